"""The store's write path and leases, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, func, select, text

from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.storage import StorageConfig, Store, WriteResult, migrate
from glassline.collector.storage.checkpoint import Checkpointer
from glassline.collector.storage.engine import WAL_AUTOCHECKPOINT_PAGES, WRITE, make_engine
from glassline.collector.storage.models import (
    DayRollup,
    HourRollup,
    Rollup,
    Span,
    Trace,
    UserRollup,
)
from glassline.collector.storage.sketch import merge_encoded
from glassline.collector.storage.testing import llm_trace
from glassline.collector.storage.writer import PreparedBatch, write_batch

T0 = 1_790_000_000 * 1_000_000_000  # a fixed instant (2026-09) so minutes are predictable
MINUTE_NS = 60 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


def traffic(first: int, count: int, start_ns: int = T0) -> list[SpanRecord]:
    """``count`` traces numbered from ``first``, one every 7 s, some of them errors."""
    spans: list[SpanRecord] = []
    for n in range(first, first + count):
        status = "error" if n % 5 == 0 else "ok"
        spans += llm_trace(n, start_ns + n * 7_000_000_000, user=f"user-{n % 4}", status=status)
    return spans


def table_count(store: Store, model: type | Table) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def assert_rollups_match_spans(store: Store, table: type = Rollup) -> None:
    """Every rollup total equals the same sum over the stored spans."""
    measures = {
        "count": func.count(),
        "errors": func.sum((Span.status == "error").cast(Span.retries.type)),
        "input_tokens": func.sum(Span.input_tokens),
        "output_tokens": func.sum(Span.output_tokens),
        "cache_read_tokens": func.sum(Span.cache_read_tokens),
        "cost_usd": func.sum(Span.cost_usd),
        "duration_sum_ms": func.sum(Span.duration_ms),
    }
    with store.session() as s:
        from_spans = s.execute(select(*measures.values())).one()
        from_rollups = s.execute(
            select(*(func.sum(getattr(table, name)) for name in measures))
        ).one()
        sketches = s.scalars(select(table.latency_sketch)).all()
    for name, want, got in zip(measures, from_spans, from_rollups, strict=True):
        assert got == pytest.approx(want or 0), name
    assert merge_encoded(sketches).count == from_spans[0]


def test_open_creates_the_sqlite_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "glassline.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        assert path.exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        store.close()


def test_open_accepts_a_config_and_a_second_open_finds_the_schema_current(store_url: str) -> None:
    first = Store.open(StorageConfig(url=store_url, retention_days=3))
    second = Store.open(store_url)
    try:
        assert first.config.retention_days == 3
        with second.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        first.close()
        second.close()


def test_a_batch_exported_twice_is_stored_and_counted_once(store: Store) -> None:
    batch = traffic(0, 20)
    assert store.write(batch) == WriteResult(inserted=len(batch), duplicates=0)
    assert store.write(batch) == WriteResult(inserted=0, duplicates=len(batch))
    assert table_count(store, Span) == len(batch)
    assert table_count(store, Trace) == 20
    assert_rollups_match_spans(store)
    assert_rollups_match_spans(store, HourRollup)
    assert_rollups_match_spans(store, DayRollup)


def test_duplicates_inside_one_batch_are_counted_once(store: Store) -> None:
    batch = traffic(0, 5)
    result = store.write(batch + batch[:3])
    assert (result.inserted, result.duplicates) == (len(batch), 3)
    with store.session() as s:
        assert s.scalar(select(func.sum(Rollup.count))) == len(batch)
        assert s.scalar(select(func.sum(Trace.span_count))) == len(batch)


def test_overlapping_batches_only_add_their_new_spans(store: Store) -> None:
    assert store.write(traffic(0, 10)).inserted == 40
    result = store.write(traffic(5, 10))  # traces 5..9 were already stored
    assert (result.inserted, result.duplicates) == (20, 20)
    assert table_count(store, Span) == 60
    assert_rollups_match_spans(store)


def test_json_columns_read_back_what_was_written(store: Store) -> None:
    (span, *_) = traffic(0, 1)
    span.attributes = {"text": "é € 😀 null", "n": 2**63 - 1, "x": 0.1, "list": [1, None, True]}
    span.events = [SpanEvent("exception", T0, {"exception.message": "ü", "code": 7})]
    span.resource = {"service.name": "rag", "k": {"nested": [1.5, "two"]}}
    store.write([span])
    with store.session() as s:
        row = s.execute(select(Span.attributes, Span.events, Span.resource)).one()
        trace = s.execute(select(Trace.models, Trace.stages)).one()
    assert row.attributes == span.attributes
    assert row.events == [
        {"name": "exception", "time_ns": T0, "attributes": span.events[0].attributes}
    ]
    assert row.resource == span.resource
    assert trace.models == sorted({span.model} - {None})
    assert trace.stages == sorted({span.stage} - {None})


def test_a_batch_is_made_into_the_drivers_parameters_before_its_transaction(store: Store) -> None:
    # SQLite writers queue for one lock: what needs no database is done before taking it,
    # the JSON of every span's attributes included. So a span changed after its batch was
    # prepared is stored as it was then.
    (span, *_) = traffic(0, 1)
    span.attributes = {"prompt": "as prepared"}
    prepared = PreparedBatch([span], store.engine.dialect)
    span.attributes["prompt"] = "changed later"
    with store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        assert write_batch(conn, prepared, T0) == WriteResult(inserted=1, duplicates=0)
    with store.session() as s:
        assert s.scalar(select(Span.attributes)) == {"prompt": "as prepared"}


_WRITER = textwrap.dedent(
    """
    import sys
    from glassline.collector.storage import Store
    from glassline.collector.storage.testing import llm_trace, spans_deleted_per_transaction
    url, first, count, rounds = sys.argv[1], *map(int, sys.argv[2:])
    store = Store.open(url)
    for r in range(rounds):
        spans = []
        for n in range(first + r * 8, first + r * 8 + count):
            spans += llm_trace(n, 1_790_000_000_000_000_000 + n * 7_000_000_000, user=f"u{n % 3}")
        print(store.write(spans).inserted, flush=True)
    """
)


def test_concurrent_processes_writing_overlapping_batches_count_each_span_once(
    store: Store, store_url: str
) -> None:
    # Four processes, each writing 6 rounds of 16 traces with a stride of 8: every trace is
    # sent by two to eight writers at the same time.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, store_url, str(first), "16", "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in (0, 4, 8, 12)
    ]
    inserted = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        inserted += sum(int(line) for line in out.split())
    distinct_traces = len(set(range(0, 12 + 5 * 8 + 16)))
    assert inserted == table_count(store, Span) == distinct_traces * 4
    assert table_count(store, Trace) == distinct_traces
    with store.session() as s:
        assert s.scalar(select(func.sum(Trace.span_count))) == distinct_traces * 4
        assert s.scalar(select(func.sum(UserRollup.requests))) == distinct_traces
    assert_rollups_match_spans(store)
    assert_rollups_match_spans(store, HourRollup)
    assert_rollups_match_spans(store, DayRollup)


def test_rollup_rows_hold_per_minute_dimensions_and_sketches(store: Store) -> None:
    spans = traffic(0, 30)  # 30 traces 7 s apart: 4 minutes
    store.write(spans)
    with store.session() as s:
        rows = s.scalars(select(Rollup).where(Rollup.kind == "llm")).all()
    assert {r.minute % 60 for r in rows} == {0}
    assert sum(r.count for r in rows) == 30
    llm_spans = [sp for sp in spans if sp.kind == "llm"]
    assert sum(r.errors for r in rows) == sum(sp.is_error for sp in llm_spans)
    assert all(r.model == "gpt-4o-mini" and r.stage == "generate" for r in rows)
    ttft = merge_encoded(r.ttft_sketch for r in rows)
    assert ttft.count == 30
    assert ttft.get_quantile_value(0.5) == pytest.approx(180.0, rel=0.02)
    with store.session() as s:
        tool_rows = s.scalars(select(Rollup).where(Rollup.kind == "tool")).all()
    assert sum(r.cache_lookups for r in tool_rows) == 30
    assert sum(r.cache_hits for r in tool_rows) == 15


def test_rollups_split_one_batch_across_minutes_and_merge_across_batches(store: Store) -> None:
    spans = traffic(0, 40)
    for i in range(0, len(spans), 24):  # batches cut traces in the middle on purpose
        store.write(spans[i : i + 24])
    assert_rollups_match_spans(store)
    with store.session() as s:
        minutes = s.scalars(select(Rollup.minute).distinct()).all()
        hours = s.scalars(select(HourRollup.hour).distinct()).all()
    assert len(minutes) == len({sp.start_ns // MINUTE_NS for sp in spans})
    assert len(hours) == len({sp.start_ns // (60 * MINUTE_NS) for sp in spans})


def test_user_rollups_attribute_child_spans_to_the_trace_user(store: Store) -> None:
    store.write(traffic(0, 8))
    with store.session() as s:
        rows = s.execute(
            select(UserRollup.user_id, func.sum(UserRollup.requests), func.sum(UserRollup.cost_usd))
            .group_by(UserRollup.user_id)
            .order_by(UserRollup.user_id)
        ).all()
    assert [(u, n) for u, n, _ in rows] == [(f"user-{i}", 2) for i in range(4)]
    assert sum(cost for *_, cost in rows) == pytest.approx(8 * 0.0009)


def test_trace_summary_is_right_when_spans_arrive_out_of_order(store: Store) -> None:
    root, retrieve, rerank, llm = llm_trace(7, T0, user="carol", model="claude-3-5-haiku")
    llm.status = "error"
    store.write([llm])
    with store.session() as s:
        early = s.get(Trace, ("acme", root.trace_id))
        assert early is not None
        assert (early.root_name, early.start_ns, early.end_ns) == (None, llm.start_ns, llm.end_ns)
    store.write([rerank, retrieve])
    store.write([root, llm])  # the root arrives last, with a retried copy of the llm span
    with store.session() as s:
        trace = s.get(Trace, ("acme", root.trace_id))
    assert trace is not None
    assert (trace.root_span_id, trace.root_name) == (root.span_id, "answer_question")
    assert (trace.start_ns, trace.end_ns, trace.duration_ms) == (root.start_ns, root.end_ns, 900.0)
    assert (trace.span_count, trace.error_count, trace.status) == (4, 1, "error")
    assert (trace.input_tokens, trace.output_tokens, trace.cache_read_tokens) == (1200, 300, 200)
    assert trace.cost_usd == pytest.approx(0.0009)
    assert trace.models == ["claude-3-5-haiku"]
    assert trace.stages == ["generate", "rerank", "retrieve"]
    assert (trace.user_id, trace.session_id, trace.service) == ("carol", "session-1", "rag-app")


def test_one_batch_can_complete_some_stored_traces_and_extend_others(store: Store) -> None:
    """Stored traces updated by one batch, some getting their root and some not, in one write."""
    first, second = llm_trace(20, T0), llm_trace(21, T0)
    store.write([first[1], second[1]])  # a child of each trace arrives first
    assert store.write([first[0], first[2], second[2]]) == WriteResult(inserted=3, duplicates=0)
    with store.session() as s:
        with_root = s.get(Trace, ("acme", first[0].trace_id))
        without_root = s.get(Trace, ("acme", second[0].trace_id))
    assert with_root is not None and without_root is not None
    assert (with_root.root_name, with_root.span_count) == ("answer_question", 3)
    assert (without_root.root_name, without_root.span_count) == (None, 2)


def _leases(store: Store, holders: Sequence[str], ttl: float) -> list[bool]:
    return [store.try_acquire_lease("tail-sampler", h, ttl) for h in holders]


def test_a_lease_has_one_holder_who_can_renew_it(store: Store) -> None:
    assert _leases(store, ["a", "b", "a", "b"], ttl=60) == [True, False, True, False]
    assert store.try_acquire_lease("alerts", "b", 60)  # names are independent
    store.release_lease("tail-sampler", "a")
    assert _leases(store, ["b", "a"], ttl=60) == [True, False]


def test_an_expired_lease_can_be_taken_over(store: Store) -> None:
    assert store.try_acquire_lease("job", "a", ttl_s=-1)  # already expired when granted
    assert store.try_acquire_lease("job", "b", ttl_s=60)
    assert not store.try_acquire_lease("job", "a", ttl_s=60)


_LEASER = textwrap.dedent(
    """
    import sys
    from glassline.collector.storage import Store
    store = Store.open(sys.argv[1])
    print(sum(store.try_acquire_lease("once", sys.argv[2], 600) for _ in range(20)))
    """
)


def test_only_one_process_gets_a_contended_lease(store: Store, store_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LEASER, store_url, f"worker-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    wins = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        wins.append(int(out))
    assert sorted(wins) == [0, 0, 0, 20]  # the winner renews 20 times, the others never win


_OPENER = textwrap.dedent(
    """
    import sys
    from glassline.collector.storage import Store
    store = Store.open(sys.argv[1])
    print(store.write([]).inserted)
    """
)


def test_processes_starting_together_migrate_a_new_store_once(store_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = Store.open(store_url)
    try:
        with store.engine.connect() as conn:
            assert len(conn.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
        assert store.write(traffic(0, 2)).inserted == 8
    finally:
        store.close()


def test_sqlite_checkpoints_run_beside_the_writers_not_in_their_commits(tmp_path: Path) -> None:
    engine = make_engine(StorageConfig(url=f"sqlite:///{tmp_path / 'g.db'}"))
    migrate.upgrade(engine)
    try:
        with engine.connect().execution_options(**WRITE) as conn, conn.begin():
            bound = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            write_batch(conn, PreparedBatch(traffic(0, 50), conn.dialect), T0)
        assert bound == WAL_AUTOCHECKPOINT_PAGES  # a writer checkpoints only past this
        checkpointer = Checkpointer(engine)
        wal_pages, copied = checkpointer.checkpoint()  # what the store's thread does
        checkpointer.close()
    finally:
        engine.dispose()
    assert wal_pages > 0  # the commit left its pages in the WAL...
    assert copied == wal_pages  # ...and a passive checkpoint beside it copies them all
    reopened = Store.open(f"sqlite:///{tmp_path / 'g.db'}")
    assert table_count(reopened, Span) == 200
    reopened.close()


class _DiskFullFor:
    """An engine whose checkpoints fail as on a full disk in the rounds ``failing`` names;
    ``done`` is set when round ``rounds + 1`` begins, so every earlier round has logged."""

    def __init__(self, engine: Engine, failing: set[int], rounds: int) -> None:
        self.engine, self.failing, self.rounds = engine, failing, rounds
        self.round, self.done = 0, threading.Event()

    def raw_connection(self) -> Any:
        self.round += 1
        if self.round > self.rounds:
            self.done.set()
        if self.round in self.failing:
            raise sqlite3.OperationalError("database or disk is full")
        return self.engine.raw_connection()


def test_a_failing_checkpoint_is_one_warning_an_episode_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A full disk logged "WAL checkpoint failed" and a traceback every second in each process.
    engine = make_engine(StorageConfig(url=f"sqlite:///{tmp_path / 'g.db'}"))
    disk = _DiskFullFor(engine, failing={1, 2, 3, 4, 5, 8, 9}, rounds=10)
    caplog.set_level(logging.DEBUG, logger="glassline.collector.storage.checkpoint")
    try:
        checkpointer = Checkpointer(cast(Engine, disk), interval_s=0.001)
        assert disk.done.wait(30)
        checkpointer.close()
    finally:
        engine.dispose()
    said = [(r.levelname, r.getMessage()[:40], bool(r.exc_info)) for r in caplog.records]
    failed = ("WARNING", "WAL checkpoint failed (OperationalError:", False)
    again = ("INFO", "WAL checkpoint works again", False)
    assert [line for line in said if line[0] != "DEBUG"] == [failed, again, failed, again]
    assert "database or disk is full" in caplog.records[0].getMessage()


def test_values_postgres_refuses_in_json_and_text_are_stored_after_limits(store: Store) -> None:
    # NaN in JSONB, a NUL or a lone surrogate in any text: one would fail the whole batch.
    from glassline.collector.config import LimitsConfig
    from glassline.collector.processors.limits import LimitsProcessor

    bad, good = llm_trace(1, T0)[-1], llm_trace(2, T0)[-1]
    bad.attributes.update({"score": float("nan"), "note": "a\x00b", "odd": "x\ud800"})
    bad.events.append(SpanEvent("retry\x00", T0, {"delay": float("inf")}))
    bad.status_message = "boom\x00"
    assert store.write(LimitsProcessor(LimitsConfig()).process([bad, good])).inserted == 2
    with store.session() as s:
        row = s.scalars(select(Span).where(Span.span_id == bad.span_id)).one()
        assert row.attributes["score"] == "NaN"
        assert row.attributes["note"] == "a\ufffdb" and row.attributes["odd"] == "x\ufffd"
        assert row.events[0]["name"] == "retry\ufffd"
        assert row.events[0]["attributes"] == {"delay": "Infinity"}
        assert row.status_message == "boom\ufffd"


def test_release_idle_closes_idle_connections_and_keeps_the_data(store: Store) -> None:
    first = store.write(traffic(0, 5)).inserted
    with store.engine.connect() as conn:
        idle = conn.connection.dbapi_connection  # back in the pool, with its caches, after this
    store.release_idle()
    with pytest.raises(Exception, match=r"(?i)closed"):
        idle.cursor().execute("SELECT 1")
    second = store.write(traffic(5, 5)).inserted  # the next use connects again
    assert table_count(store, Span) == first + second > first


def test_release_idle_keeps_an_in_memory_database() -> None:
    store = Store.open("sqlite://")
    try:
        stored = store.write(traffic(0, 3)).inserted
        store.release_idle()
        assert table_count(store, Span) == stored > 0
    finally:
        store.close()
