"""The record of values seen by hour: a trace filter reads only the hours its value was seen in,
on SQLite and PostgreSQL, and finds the same traces as a scan of every trace."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store, migrate
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.models import SeenValue
from glassline.collector.storage.queries import list_traces
from glassline.collector.storage.seen import _join
from glassline.collector.storage.testing import llm_trace, versioned, work_done

HOUR_NS = 3600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS
T0 = 1_790_000_000 * 1_000_000_000 // DAY_NS * DAY_NS  # midnight UTC
RARE = T0 - 10 * DAY_NS + 5 * HOUR_NS  # the one trace with the rare name and model


def _traces(first: int, count: int, start_ns: int, every_ns: int) -> list[SpanRecord]:
    return [
        s
        for n in range(count)
        for s in llm_trace(first + n, start_ns + n * every_ns, model="gpt-4o", user=f"u{n % 4}")
    ]


def _rare() -> list[SpanRecord]:
    spans = llm_trace(999_999, RARE, model="rare-model", cost_usd=2.5)  # the one costly trace
    spans[-1].name = "rare_old_step"
    return spans


def _listed(store: Store, tenant: str | None = "acme", **filters: Any) -> tuple[list[str], int]:
    """The trace ids of a first page of a tenant's traces (None: an admin's), and the work it
    took (on PostgreSQL the rows of traces read: the spans a matching trace's check reads
    depend on the plan the planner picks for such small tables)."""
    with (
        store.engine.connect() as conn,
        conn.begin(),
        Session(bind=conn) as session,
        work_done(conn, "traces") as work,
    ):
        page = list_traces(session, tenant, limit=50, **filters)
    return [t.trace_id for t in page.traces], work[0]


@pytest.mark.parametrize(
    "filters",
    [{"name_contains": "no-such-name"}, {"name_contains": "rare_old"}, {"model": "rare-model"},
     {"name_contains": "rare_old", "model": "rare-model"}, {"model": "no-such-model"}],
)  # fmt: skip
@pytest.mark.parametrize("tenant", ["acme", None])
def test_a_value_never_seen_or_seen_once_long_ago_reads_no_more_as_traces_pile_up(
    store: Store, filters: dict[str, Any], tenant: str | None
) -> None:
    # The list scans the newest traces first for a matching span: a ?name= that matched
    # nothing read every span of the range (2.7 s on 2.46M spans), a value seen once long ago
    # every trace after it, and every one before it, to fill its page.
    store.write(_rare())
    store.write(_traces(0, 30, T0, 60 * 1_000_000_000))  # newer, in the same hours each round
    store.write(_traces(100, 30, T0 - 20 * DAY_NS, 60 * 1_000_000_000))  # older
    found, few = _listed(store, tenant, **filters)
    for round_ in range(1, 8):
        store.write(_traces(round_ * 1000, 30, T0 + round_, 60 * 1_000_000_000))
        store.write(_traces(round_ * 1000 + 500, 30, T0 - 20 * DAY_NS + round_, 60_000_000_000))
    again, many = _listed(store, tenant, **filters)
    assert (
        found
        == again
        == ([] if "no-such" in str(filters) else [llm_trace(999_999, RARE)[0].trace_id])
    )
    assert many <= few + 2  # eight times the traces around it, the same work


@pytest.mark.parametrize("min_cost", [1000.0, 2.0])
@pytest.mark.parametrize("tenant", ["acme", None])
def test_a_min_cost_no_trace_or_one_long_ago_reaches_reads_no_more_as_traces_pile_up(
    store: Store, min_cost: float, tenant: str | None
) -> None:
    # A min_cost no trace reached read every trace of the range (29-48 ms on 91,746 traces),
    # one only a trace long ago reached every trace after it. (The list first counts how
    # many of the newest 200 reach it: at most 200 traces, whatever the store holds.)
    store.write(_rare())  # the one trace that costs 2.5 USD; the others 0.0009
    store.write(_traces(0, 300, T0, 10 * 1_000_000_000))
    found, few = _listed(store, tenant, min_cost=min_cost)
    for round_ in range(1, 6):
        store.write(_traces(round_ * 1000, 300, T0 + round_, 10 * 1_000_000_000))
    again, many = _listed(store, tenant, min_cost=min_cost)
    assert found == again == ([] if min_cost > 2.5 else [_rare()[0].trace_id])
    assert many <= few + 2  # 6 times the traces after it, the same work


def _every_trace(store: Store) -> list[SpanRecord]:
    spans = _traces(0, 50, T0, 7 * 60 * 1_000_000_000)
    older = _traces(200, 20, T0 - 3 * DAY_NS, HOUR_NS // 3)
    for n in range(0, len(older), 4):  # a deployed app: versions, a prompt (numbered), a key
        versioned(
            older[n : n + 4], service_version="1.2.0", prompt=("answer", n % 3), api_key="web"
        )
    spans += older
    # The root arrives after its children and started 40 minutes before them, in the hour
    # before: the children were recorded under their own start, the trace moved back.
    late = llm_trace(300, T0 - 40 * 60 * 1_000_000_000, model="late-model", cost_usd=0.003)
    for span in late[1:]:
        span.start_ns += 40 * 60 * 1_000_000_000
        span.end_ns += 40 * 60 * 1_000_000_000
    spans += late
    store.write(spans[: -len(late)] + late[1:])
    store.write(late[:1])
    return spans + _rare()


@pytest.mark.parametrize(
    ("filters", "matches"),
    [({}, lambda t: True),
     ({"name_contains": "RETRIEVE"}, lambda t: any("retrieve" in s.name for s in t)),
     ({"name_contains": "rare_"}, lambda t: any("rare_" in s.name for s in t)),
     ({"model": "late-model"}, lambda t: any(s.model == "late-model" for s in t)),
     ({"model": "gpt-4o", "name_contains": "answer", "user": "u1"},
      lambda t: any(s.model == "gpt-4o" for s in t) and t[0].user_id == "u1"),
     ({"min_cost": 0.0009}, lambda t: sum(s.cost_usd or 0 for s in t) >= 0.0009),
     ({"min_cost": 0.002}, lambda t: sum(s.cost_usd or 0 for s in t) >= 0.002)],
)  # fmt: skip
def test_filtered_pages_hold_the_traces_a_scan_of_every_trace_finds(
    store: Store, filters: dict[str, Any], matches: Any
) -> None:
    spans = _every_trace(store)
    store.write(_rare())
    traces: dict[str, list[SpanRecord]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    roots = [t[0] for t in traces.values() if matches(t)]
    want = [r.trace_id for r in sorted(roots, key=lambda r: (r.start_ns, r.trace_id), reverse=True)]
    got: list[str] = []
    cursor = None
    with store.session() as session:
        while True:
            page = list_traces(session, "acme", limit=7, cursor=cursor, **filters)
            got += [t.trace_id for t in page.traces]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert got == want and want


def test_a_name_past_the_bound_on_distinct_values_is_found(tmp_path: Path) -> None:
    config = StorageConfig(url=f"sqlite:///{tmp_path / 'glassline.db'}", max_dimension_values=1)
    store = Store.open(config)
    try:
        spans = _traces(0, 5, T0, HOUR_NS // 10)
        store.write(spans)
        with store.engine.connect() as conn:
            names = set(conn.scalars(select(SeenValue.value).where(SeenValue.dimension == "name")))
        assert names == {"answer_question", "(other)"}
        with store.session() as session:
            for name in {s.name for s in spans}:
                page = list_traces(session, "acme", name_contains=name)
                assert len(page.traces) == 5, name
    finally:
        store.close()


def test_the_migration_records_the_stored_traces_as_writes_do(store: Store) -> None:
    _every_trace(store)
    rows = select(SeenValue.tenant, SeenValue.dimension, SeenValue.value, SeenValue.hour)
    with store.engine.connect() as conn:
        written = set(conn.execute(rows).all())
    migrate.downgrade(store.engine, "0012_alert_deliveries")
    migrate.upgrade(store.engine)
    with store.engine.connect() as conn:
        backfilled = set(conn.execute(rows).all())
    # The late trace's children were written under their own (later) hour, and again under
    # the root's when it moved the start back; the backfill records the whole trace under
    # its start.
    late_children = {r for r in written - backfilled if r[3] == (T0 // 10**9 // 3600) * 3600}
    assert _values(written) - _values(backfilled) == _values(late_children)
    assert _values(backfilled) <= _values(written)
    assert {r[1] for r in backfilled} == {
        "name", "stage", "model", "service_version", "prompt_version", "api_key", "cost"
    }  # fmt: skip
    # Costs: a write records its costliest trace of each hour (the late trace's children put
    # theirs under T0's hour before the root moved it back); the backfill each hour's
    # costliest trace: never a higher bucket than the writes, which find every trace it finds.
    assert _costliest(backfilled).keys() == _costliest(written).keys()
    for hour, bucket in _costliest(backfilled).items():
        assert bucket <= _costliest(written)[hour]


def _values(rows: set[Any]) -> set[Any]:
    return {r for r in rows if r[1] != "cost"}


def _costliest(rows: set[Any]) -> dict[tuple[str, int], int]:
    most: dict[tuple[str, int], int] = {}
    for tenant, dimension, value, hour in rows:
        if dimension == "cost":
            most[tenant, hour] = max(int(value), most.get((tenant, hour), -(10**9)))
    return most


def test_a_filter_reads_no_trace_of_the_hour_before_the_one_its_value_was_seen_in(
    store: Store,
) -> None:
    # Every span's values are recorded under the hour its trace starts in now (a write that
    # moves a start re-records them), so a value's hour stands for that hour's traces alone.
    store.write(llm_trace(700, T0 + 10 * MINUTE_NS, model="one-hour-model"))
    alone, alone_work = _listed(store, model="one-hour-model")
    store.write(_traces(800, 200, T0 - HOUR_NS, HOUR_NS // 200))  # the hour before, busy
    found, work = _listed(store, model="one-hour-model")
    assert found == alone == [llm_trace(700, T0)[0].trace_id]
    assert work == alone_work  # not one trace of the hour before read


def test_a_trace_across_an_hour_boundary_is_found_whatever_order_its_spans_arrive_in(
    store: Store,
) -> None:
    # The root starts a minute before the hour, its children a minute into it: each of the
    # 24 orders of its four spans, one write each, is a trace of its own model.
    traces = []
    for n, order in enumerate(itertools.permutations(range(4))):
        spans = _root_last(900 + n, T0 - MINUTE_NS, T0 + MINUTE_NS, model=f"m{n}")
        for i in order:
            store.write([spans[i]])
        traces.append(spans[0].trace_id)
    for n, trace_id in enumerate(traces):
        assert _listed(store, model=f"m{n}")[0] == [trace_id]
    assert set(_listed(store, name_contains="rerank")[0]) == set(traces)


def test_more_ranges_than_a_condition_holds_are_joined_across_the_narrowest_gaps() -> None:
    ranges = [(0, 1), (2, 3), (10, 11), (12, 13), (30, 31)]
    assert _join(ranges, 5) == ranges
    assert _join(ranges, 3) == [(0, 3), (10, 13), (30, 31)]
    assert _join(ranges, 1) == [(0, 31)]


def test_retention_takes_the_hours_of_the_traces_it_purges(store: Store) -> None:
    store.write(_traces(0, 3, T0, HOUR_NS))
    store.write(_traces(10, 3, T0 + 20 * DAY_NS, HOUR_NS))
    store.purge(now_ns=T0 + 20 * DAY_NS)  # 7 days of traces kept
    with store.engine.connect() as conn:
        hours = set(conn.scalars(select(SeenValue.hour)))
    assert hours == {(T0 + 20 * DAY_NS) // 10**9 + h * 3600 for h in range(3)}


MINUTE_NS = 60 * 1_000_000_000


def _root_last(number: int, root_ns: int, children_ns: int, **llm: Any) -> list[SpanRecord]:
    """A trace whose root starts at ``root_ns`` and whose children start from
    ``children_ns`` (an agent's calls, exported as they end; the root, as it ends, last)."""
    spans = llm_trace(number, root_ns, **llm)
    for span in spans[1:]:
        span.start_ns += children_ns - root_ns
        span.end_ns += children_ns - root_ns
    return spans


@pytest.mark.parametrize(
    ("root_ns", "retriever_ns", "writes"),
    [
        # The root started 90 minutes before the children written ahead of it.
        (T0 - 90 * MINUTE_NS, T0, [[1, 2, 3], [0]]),
        # The retriever moved the start back 30 minutes (into the hour before), the root
        # another hour.
        (T0 - 90 * MINUTE_NS, T0 - 30 * MINUTE_NS, [[2, 3], [1], [0]]),
        # The root's clock is ahead: it moves the start 150 minutes on.
        (T0 + 150 * MINUTE_NS, T0, [[1, 2, 3], [0]]),
    ],
    ids=["root-last", "in-two-steps", "root-ahead"],
)
def test_a_trace_whose_start_moves_hours_after_its_first_spans_were_written_is_found(
    store: Store, root_ns: int, retriever_ns: int, writes: list[list[int]]
) -> None:
    spans = _root_last(400, root_ns, T0, model="far-model")
    spans[1].start_ns = retriever_ns
    versioned(spans[1:], service_version="2.0.0", prompt=("plan", 3), api_key="agent")
    store.write(_traces(0, 3, T0 - DAY_NS, HOUR_NS))  # others, a day before
    for batch in writes:
        store.write([spans[n] for n in batch])
    for filters in ({"name_contains": "rerank"}, {"model": "far-model"}):
        assert _listed(store, **filters)[0][:1] == [spans[0].trace_id], filters
    # The children's values, read back from their stored spans, under the root's hour.
    with store.engine.connect() as conn:
        at = SeenValue.hour == root_ns // 10**9 // 3600 * 3600
        recorded = set(conn.execute(select(SeenValue.dimension, SeenValue.value).where(at)))
    assert {
        ("name", "rerank"),
        ("model", "far-model"),
        ("stage", "generate"),
        ("service_version", "2.0.0"),
        ("prompt_version", "3"),
        ("api_key", "agent"),
    } <= recorded


def test_only_a_write_that_moves_a_start_to_another_hour_reads_the_spans_again(
    store: Store,
) -> None:
    same_hour = _root_last(500, T0 + 10 * MINUTE_NS, T0 + 40 * MINUTE_NS)
    moved = _root_last(501, T0 - 90 * MINUTE_NS, T0 + 40 * MINUTE_NS)
    # Traces whose roots start with theirs: both roots' rollup rows are there already.
    store.write(llm_trace(502, T0 + 10 * MINUTE_NS) + llm_trace(503, T0 - 90 * MINUTE_NS))
    store.write(same_hour[1:] + moved[1:])
    statements: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        store.write(same_hour[:1])
        common = list(statements)
        statements.clear()
        store.write(moved[:1])
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert len(statements) == len(common) + 1  # the moved trace's spans, read back
    found = set(_listed(store, name_contains="rerank")[0])
    assert found == {llm_trace(n, T0)[0].trace_id for n in range(500, 504)}
