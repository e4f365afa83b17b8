"""Retention: deleting what is past ``retention_days``, a transaction at a time, and giving
a SQLite file's freed pages back.

Mixed into :class:`.store.Store`, whose write transactions and lock it uses: every step is a
short write transaction, so exports are never held up for long by a background job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Table

from glassline.collector.storage import expiry, partitions, search, seen, space
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.models import (
    DayRollup,
    Evaluation,
    EvaluationRollup,
    HourRollup,
    Rollup,
    SeenValue,
    SpanContent,
    UserRollup,
)
from glassline.collector.storage.write_lock import FileWriteLock

__all__ = ["NS_PER_DAY", "PURGE_DOCS", "PURGE_SPANS", "Retention"]

# The store's own log: operators (and tests) know its warnings by that name.
_log = logging.getLogger("glassline.collector.storage.store")
NS_PER_DAY = 86_400 * 1_000_000_000
# Spans one retention transaction deletes at most, and search documents (each re-read by
# FTS5 to delete its words): 2,000 traces a transaction, whatever their length, kept SQLite's
# one write lock for so long that 40% of the exports were refused during a pass.
PURGE_SPANS = 5_000
PURGE_DOCS = 500
_T = TypeVar("_T")


class Retention:
    """The purge, free-page and compaction operations of :class:`.store.Store`."""

    # Set by the store.
    engine: Engine
    config: StorageConfig
    sqlite_file: str | None
    gives_space_back: bool
    _told_no_space_back: bool
    _write_lock: FileWriteLock | None
    write_lock: Callable[[], AbstractContextManager[object]]
    _write_tx: Callable[[], AbstractContextManager[Connection]]

    def purge(
        self, now_ns: int | None = None, chunk: int = 2000, max_spans: int | None = None
    ) -> dict[str, int]:
        """Delete traces (with all their spans) that started before ``retention_days`` and
        rollups older than ``rollup_retention_days``; returns rows deleted per table.

        Raw data goes ``chunk`` traces and at most ``max_spans`` (:data:`PURGE_SPANS`) spans
        per transaction (a longer trace loses its spans over several, its summary row with the
        last), so writers (and SQLite's single write lock) are never held up for long by a
        large purge; search documents go :data:`PURGE_DOCS` a transaction, and the rows of
        every other table (content events, rollups, evaluations) :data:`expiry.PURGE_ROWS`
        (after downtime they are millions, not an interval's worth). On SQLite each
        transaction is followed by a pause as long as it took, so writers waiting for the
        file lock take it in between (neither the thread lock nor ``flock`` hands it over in
        turn). With ``storage.partitioning`` the span partitions that end before the
        cutoff are dropped first (counted under ``span_partitions``), so the row deletes only
        meet the traces and a few late spans. Last, a SQLite store gives the pages it freed
        back to the file system (``free_pages_released``, see :meth:`release_free_pages`).
        """
        now_ns = now_ns or time.time_ns()
        raw_cutoff = now_ns - int(self.config.retention_days * NS_PER_DAY)
        counts = {"spans": 0, "traces": 0, "span_content": 0, "search_docs": 0}
        if self.config.partitioning is not None:
            with self._write_tx() as conn:
                counts["span_partitions"] = len(partitions.drop_expired(conn, raw_cutoff))
        max_spans = max_spans or PURGE_SPANS
        more = True
        while more:
            spans, traces, more = self._purge_step(
                lambda conn: expiry.purge_traces(conn, raw_cutoff, chunk, max_spans)
            )
            counts["spans"] += spans
            counts["traces"] += traces
        docs = min(chunk, PURGE_DOCS)
        while True:  # the search index of the same traces (and of their content events)
            deleted_docs = self._purge_step(lambda conn: search.purge(conn, raw_cutoff, docs))
            counts["search_docs"] += deleted_docs
            if deleted_docs < docs:
                break
        # Content events live as long as spans; this also takes those whose span never came.
        counts["span_content"] = self.delete_expired(
            SpanContent.__table__, SpanContent.received_ns < raw_cutoff
        )
        cutoff_s = (now_ns - int(self.config.rollup_retention_days * NS_PER_DAY)) // 10**9
        expired = {
            "rollups": (Rollup.__table__, Rollup.minute < cutoff_s),
            "rollups_hourly": (HourRollup.__table__, HourRollup.hour < cutoff_s),
            "rollups_daily": (DayRollup.__table__, DayRollup.day < cutoff_s),
            "user_rollups": (UserRollup.__table__, UserRollup.minute < cutoff_s),
            "evaluation_rollups": (EvaluationRollup.__table__, EvaluationRollup.minute < cutoff_s),
            "evaluations": (Evaluation.__table__, Evaluation.time_ns < raw_cutoff),
            # Hours whose traces are all purged.
            "seen_values": (
                SeenValue.__table__,
                SeenValue.hour < raw_cutoff // 10**9 - seen.HOUR_S,
            ),
        }
        for name, (table, where) in expired.items():
            counts[name] = self.delete_expired(table, where)
        counts["free_pages_released"] = self.release_free_pages()
        return counts

    def delete_expired(self, table: Table, where: ColumnElement[bool]) -> int:
        """Delete the rows of ``table`` matching ``where``, at most :data:`expiry.PURGE_ROWS`
        a transaction (each followed by :meth:`yield_write_lock`); returns how many went."""
        limit = expiry.PURGE_ROWS
        deleted = 0
        while True:
            done = self._purge_step(lambda conn: expiry.delete_some(conn, table, where, limit))
            deleted += done
            if done < limit:
                return deleted

    def release_free_pages(self) -> int:
        """Hand a SQLite store's free pages back to the file system, at most
        :data:`space.RELEASE_PAGES` a transaction (each followed by :meth:`yield_write_lock`);
        returns how many went. Only a store in incremental auto-vacuum mode can (see
        :mod:`.space`); one created before gets a warning, once. PostgreSQL reuses the space
        (autovacuum)."""
        if self.sqlite_file is None:
            return 0
        with self.engine.connect() as conn:  # without the write lock: the usual answer is 0
            free = space.free_pages(conn)
            if free and not self.gives_space_back and not self._told_no_space_back:
                self._told_no_space_back = True
                size = free * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
                _log.warning(
                    "%.0f MB of %s are free pages that this store cannot give back (created "
                    "before incremental auto-vacuum): it reuses them, but the file never "
                    "shrinks. `glassline-collector compact` rewrites it once so that it can "
                    "(see docs/storage.md)", size / 1e6, self.sqlite_file,
                )  # fmt: skip
        if not free or not self.gives_space_back:
            return 0
        pages = space.RELEASE_PAGES
        released = 0
        while True:
            done = self._purge_step(lambda conn: space.release(conn, pages))
            released += done
            if done < pages:
                return released

    def compact(self) -> None:
        """Rewrite a SQLite store without its free pages, in incremental auto-vacuum mode from
        then on (``VACUUM``): holds the write lock throughout, so exports wait meanwhile."""
        if self.sqlite_file is None:
            raise ValueError("only a SQLite file can be compacted")
        with self.write_lock():
            raw = self.engine.raw_connection()
            try:
                space.compact(raw.driver_connection)
            finally:
                raw.close()
        self.gives_space_back = True

    def _purge_step(self, work: Callable[[Connection], _T]) -> _T:
        """One purge transaction, then :meth:`yield_write_lock`."""
        began = time.monotonic()
        with self._write_tx() as conn:
            done = work(conn)
        self.yield_write_lock(began)
        return done

    def yield_write_lock(self, began: float) -> None:
        """After a background job's write transaction (``began``: ``time.monotonic()`` at its
        start), on SQLite, pause as long as it took: neither the thread lock nor ``flock``
        hands SQLite's one write lock over in turn, so a job's transactions back to back kept
        the exports' writes waiting (40% of the exports refused during a retention pass)."""
        if self._write_lock is not None:
            time.sleep(time.monotonic() - began)
