"""Batches that wait for SQLite's one writer are written together, in one transaction.

SQLite admits one writer at a time, so while a batch is written the other batches of this
process wait for the write lock. The first of them to wait leads: once it holds the lock it
takes every batch queued by then and writes them in one transaction, and the others wait for
their own result. Much of a write's time under the lock is per transaction, not per span (one
statement per table, the commit, the rollup rows the batches share): for 100-span exports the
CPU per span under the lock fell by a fifth with two batches a transaction and by a third
with four (``python -m bench.store_write --grouped``). No batch waits longer than it would
have alone: the leader takes the queue the moment it holds the lock.

A batch that fails its group's transaction fails it for every batch in it, so the group is
then written again one batch a transaction: only a batch that fails on its own reports an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager

from glassline.collector.storage.writer import PreparedBatch, SpanKey, WriteResult

__all__ = ["GroupCommit"]

# Writes a batch in a transaction of its own, the write lock held; the keys it inserted.
WriteOne = Callable[[PreparedBatch, int], Collection[SpanKey]]


class _Queued:
    """One caller's batch, and once written its result or error."""

    __slots__ = ("batch", "error", "now_ns", "result")

    def __init__(self, batch: PreparedBatch, now_ns: int) -> None:
        self.batch = batch
        self.now_ns = now_ns
        self.result: WriteResult | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


class GroupCommit:
    """``write(batch, now_ns)`` as one transaction would, but shared with the batches that
    wait for the write lock at the same time (see the module's docstring).

    ``lock`` is the store's write lock; ``write`` writes one batch in a transaction of its own
    (the lock already held) and returns the keys of the spans it inserted.
    """

    def __init__(self, lock: Callable[[], AbstractContextManager[object]], write: WriteOne) -> None:
        self._write_lock = lock
        self._write = write
        self._changed = threading.Condition()
        self._queue: list[_Queued] = []
        self._leading = False

    def write(self, batch: PreparedBatch, now_ns: int) -> WriteResult:
        """Store ``batch``; returns how many of its spans were new, once they are committed."""
        mine = _Queued(batch, now_ns)
        with self._changed:
            self._queue.append(mine)
            self._changed.notify_all()  # for whoever watches the queue (the tests)
            self._changed.wait_for(lambda: mine.done or not self._leading)
            if not mine.done:
                self._leading = True
        if not mine.done:
            try:
                self._lead()
            except BaseException:
                with self._changed:  # the lock was never taken: nobody is to write this batch
                    if mine in self._queue:
                        self._queue.remove(mine)
                raise
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _lead(self) -> None:
        """Take the lock, then every batch queued by then, and write them."""
        with self._write_lock():
            with self._changed:
                group, self._queue = self._queue, []
            try:
                _write_group(group, self._write)
            finally:
                for queued in group:
                    if not queued.done:  # interrupted before its outcome was known
                        queued.error = RuntimeError("the write was interrupted")


def _write_group(group: Sequence[_Queued], write: WriteOne) -> None:
    if len(group) > 1:
        try:
            merged = PreparedBatch.merge([queued.batch for queued in group])
            inserted = write(merged, max(queued.now_ns for queued in group))
        except Exception:  # one batch's fault fails the others: write each on its own
            pass
        else:
            _settle(group, inserted)
            return
    for queued in group:
        try:
            _settle([queued], write(queued.batch, queued.now_ns))
        except Exception as exc:
            queued.error = exc


def _settle(group: Sequence[_Queued], inserted: Collection[SpanKey]) -> None:
    """Each caller's result: a span in two batches of the group is new in the first only."""
    new = set(inserted)
    claimed: set[SpanKey] = set()
    for queued in group:
        mine = new.intersection(queued.batch.spans).difference(claimed)
        claimed.update(mine)
        queued.result = WriteResult(len(mine), queued.batch.size - len(mine))
