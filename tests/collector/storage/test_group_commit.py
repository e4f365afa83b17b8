"""storage/group_commit.py: the batches that wait for SQLite's one writer share a transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store, WriteResult
from glassline.collector.storage.models import Rollup, Span
from glassline.collector.storage.testing import llm_trace

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path}/gl.db")
    yield opened
    opened.close()


def _commits(store: Store) -> list[int]:
    """A list that grows by one at each commit of the store's engine."""
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    return commits


def _write_while_locked(store: Store, batches: list[list[SpanRecord]]) -> list[object]:
    """Start a writer per batch while the write lock is held, release the lock once all of
    them wait for it, and return each writer's WriteResult (or exception), in order."""
    outcomes: list[object] = [None] * len(batches)

    def write(i: int) -> None:
        try:
            outcomes[i] = store.write(batches[i])
        except Exception as exc:
            outcomes[i] = exc

    group = store._group_commit
    assert group is not None
    writers = [threading.Thread(target=write, args=(i,)) for i in range(len(batches))]
    with store.write_lock():
        for i, writer in enumerate(writers):
            writer.start()
            with group._changed:  # queued in this order: the first one leads
                assert group._changed.wait_for(lambda i=i: len(group._queue) == i + 1, 10)
    for writer in writers:
        writer.join(10)
    return outcomes


def test_batches_waiting_for_the_lock_are_written_in_one_transaction(store: Store) -> None:
    commits = _commits(store)
    batches = [llm_trace(n, T0) for n in range(3)]
    outcomes = _write_while_locked(store, batches)
    assert outcomes == [WriteResult(inserted=len(b), duplicates=0) for b in batches]
    assert len(commits) == 1
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Span)) == 3 * len(batches[0])
        assert session.scalar(select(func.sum(Rollup.count))) == 3 * len(batches[0])


def test_a_span_in_two_batches_of_a_group_is_new_in_the_first_only(store: Store) -> None:
    trace = llm_trace(1, T0)
    outcomes = _write_while_locked(store, [trace, trace[:2]])
    assert outcomes == [WriteResult(len(trace), 0), WriteResult(0, 2)]
    with store.session() as session:
        assert session.scalar(select(func.sum(Rollup.count))) == len(trace)


def test_a_batch_that_fails_the_group_fails_alone(store: Store) -> None:
    """One export's bad span must not cost the exports that shared its transaction."""
    commits = _commits(store)
    good, other = llm_trace(1, T0), llm_trace(2, T0)
    bad = llm_trace(3, T0)
    bad[-1] = replace(bad[-1], input_tokens=2**70)  # no SQLite integer holds it
    outcomes = _write_while_locked(store, [good, bad, other])
    assert outcomes[0] == WriteResult(len(good), 0)
    assert isinstance(outcomes[1], OverflowError)
    assert outcomes[2] == WriteResult(len(other), 0)
    assert len(commits) == 2  # the group failed, then the good batches one by one
    with store.session() as session:
        stored = set(session.scalars(select(Span.trace_id)))
        assert stored == {good[0].trace_id, other[0].trace_id}
        assert session.scalar(select(func.sum(Rollup.count))) == len(good) + len(other)


def test_concurrent_writers_store_and_count_every_span_once(store: Store) -> None:
    """Leaders hand over as they finish: no writer is left waiting, nothing counted twice."""
    threads, writes = 6, 8
    results: list[WriteResult] = []
    done = threading.Lock()

    def writer(t: int) -> Callable[[], None]:
        def run() -> None:
            for w in range(writes):
                trace = llm_trace(t * writes + w, T0)
                # every trace is written twice: the second write is all duplicates
                for _ in range(2):
                    result = store.write(trace)
                    with done:
                        results.append(result)

        return run

    pool = [threading.Thread(target=writer(t)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert not any(thread.is_alive() for thread in pool)
    spans = threads * writes * len(llm_trace(0, T0))
    assert sum(r.inserted for r in results) == spans
    assert sum(r.duplicates for r in results) == spans
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Span)) == spans
        assert session.scalar(select(func.sum(Rollup.count))) == spans


def test_a_batch_whose_lock_cannot_be_taken_fails_and_is_not_written_later(
    store: Store,
) -> None:
    """The caller is told its export failed (it will send it again): it must not be
    written behind its back by the next writer's group."""
    group = store._group_commit
    assert group is not None
    working_lock = group._write_lock

    def broken_lock() -> AbstractContextManager[object]:
        raise OSError("no lock file")

    group._write_lock = broken_lock
    failed = llm_trace(1, T0)
    with pytest.raises(OSError):
        store.write(failed)
    group._write_lock = working_lock
    later = llm_trace(2, T0)
    assert store.write(later) == WriteResult(len(later), 0)
    with store.session() as session:
        assert set(session.scalars(select(Span.trace_id))) == {later[0].trace_id}
