"""storage/search_backfill.py: traces stored before full-text search become searchable, once
each, in resumable batches, newest first, while the collector goes on writing."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, func, select

from glassline.collector.records import ContentEvent
from glassline.collector.storage import Store, migrate, search_backfill
from glassline.collector.storage.models import SearchDoc

from .test_search import MS, T0, found, msgs, say, tid, trace


def old_store(store: Store, n: int, tenant: str = "acme") -> None:
    """``n`` traces of ``tenant``, a second apart, each asking about ``topic<i>``, stored as
    before revision 0009: spans, summaries and rollups, no search documents."""
    for i in range(n):
        question = msgs("user", say(f"Where is topic{i}? Ask about quokkas."))
        store.write(trace(i, tenant, T0 + i * 1000 * MS, **{"gen_ai.input.messages": question}))
    with store.engine.begin() as conn:
        conn.execute(delete(SearchDoc))


def documents(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(SearchDoc.trace_id).order_by(SearchDoc.trace_id)).scalars())


def test_the_upgrade_indexes_a_small_store_by_itself(any_store_url: str) -> None:
    store = Store.open(any_store_url)
    old_store(store, 3)
    migrate.downgrade(store.engine, "0008_version_dimensions")  # the table did not exist
    store.close()
    store = Store.open(any_store_url)  # upgrade head, as the collector does at start
    try:
        assert found(store, "topic1") == [tid(1)]
        assert found(store, "quokkas") == [tid(2), tid(1), tid(0)]
    finally:
        store.close()


def test_a_large_store_is_left_to_the_command_and_the_log_says_so(
    any_store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(any_store_url)
    old_store(store, 3)
    store.close()
    monkeypatch.setattr(search_backfill, "AUTO_LIMIT", 2)
    with caplog.at_level(logging.WARNING):
        store = Store.open(any_store_url)
    try:
        assert "glassline-collector search-backfill" in caplog.text
        assert found(store, "quokkas") == []
        done = store.backfill_search()
        assert (done.total, done.checked, done.indexed) == (3, 3, 3)
        assert found(store, "quokkas") == [tid(2), tid(1), tid(0)]
    finally:
        store.close()


def test_batches_go_newest_first_and_report_progress(store: Store) -> None:
    old_store(store, 5)
    seen: list[tuple[int, int, int | None]] = []
    done = store.backfill_search(
        batch=2, on_batch=lambda p: seen.append((p.checked, p.indexed, p.cursor_ns))
    )
    starts = [T0 + i * 1000 * MS for i in (3, 1, 0)]
    assert seen == [(2, 2, starts[0]), (4, 4, starts[1]), (5, 5, starts[2])]
    assert (done.total, done.checked, done.indexed) == (5, 5, 5)


def test_a_second_run_writes_nothing(store: Store) -> None:
    old_store(store, 4)
    store.backfill_search(batch=3)
    again = store.backfill_search(batch=3)
    assert (again.checked, again.indexed) == (4, 0)
    assert documents(store) == [tid(i) for i in range(4)]  # one document per trace


def test_a_run_that_crashed_is_finished_by_the_next(store: Store) -> None:
    old_store(store, 5)

    def crash_after_first_batch(progress: search_backfill.Progress) -> None:
        raise KeyboardInterrupt  # the process dies after one batch committed

    with pytest.raises(KeyboardInterrupt):
        store.backfill_search(batch=2, on_batch=crash_after_first_batch)
    assert documents(store) == [tid(3), tid(4)]
    done = store.backfill_search(batch=2)
    assert done.indexed == 3
    assert documents(store) == [tid(i) for i in range(5)]


def test_spans_written_during_the_run_keep_their_words(store: Store) -> None:
    old_store(store, 4)
    late = {"gen_ai.input.messages": msgs("user", say("a wombat arrived late"))}

    def ingest_meanwhile(progress: search_backfill.Progress) -> None:
        if progress.checked == 2:  # a late span of a trace already indexed, and a new trace
            late_span = trace(3, start_ns=T0 + 3000 * MS, **late)[1]
            late_span.span_id = "00000000000000ee"
            store.write([late_span, *trace(9, start_ns=T0 + 10**12, **late)])

    store.backfill_search(batch=2, on_batch=ingest_meanwhile)
    assert found(store, "wombat") == [tid(9), tid(3)]
    assert found(store, "topic3") == [tid(3)]
    assert found(store, "quokkas") == [tid(3), tid(2), tid(1), tid(0)]


def test_a_trace_indexed_in_part_by_the_collector_is_not_backfilled(store: Store) -> None:
    """The documented limit: a trace still being written at the upgrade is found by the words
    of the spans stored after it (it has a document, so the backfill leaves it alone)."""
    old_store(store, 1)
    late_span = trace(0, **{"gen_ai.input.messages": msgs("user", say("wombat"))})[1]
    late_span.span_id = "00000000000000ee"
    store.write([late_span])
    assert store.backfill_search().indexed == 0
    assert (found(store, "wombat"), found(store, "topic0")) == ([tid(0)], [])


def test_content_events_whose_span_never_came_are_indexed(store: Store) -> None:
    old_store(store, 1)
    orphan = ContentEvent(
        tenant="acme", trace_id=tid(0), span_id="00000000000000dd", event_id="e1",
        name="gen_ai.user.message", time_ns=T0 + 7 * MS, seq=0,
        attributes={"gen_ai.input.messages": msgs("user", say("platypus"))},
    )  # fmt: skip
    store.write_content([orphan])
    with store.engine.begin() as conn:
        conn.execute(delete(SearchDoc))
    store.backfill_search()
    assert found(store, "platypus") == [tid(0)]
    assert found(store, "topic0") == [tid(0)]


def test_each_tenant_finds_only_its_own_backfilled_traces(store: Store) -> None:
    old_store(store, 2)
    question = {"gen_ai.input.messages": msgs("user", say("quokkas"))}
    for i in range(2, 4):
        store.write(trace(i, "globex", T0 + i * 1000 * MS, **question))
    with store.engine.begin() as conn:
        conn.execute(delete(SearchDoc))
    store.backfill_search()
    assert found(store, "quokkas") == [tid(1), tid(0)]
    assert found(store, "quokkas", tenant="globex") == [tid(3), tid(2)]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SearchDoc)).scalar_one() == 4
