"""The store: spans, trace summaries and rollups in SQLite or PostgreSQL.

``Store.open`` migrates the schema and returns a store that any number of collector
processes (one SQLite file) or replicas (one PostgreSQL database) can write at once:
each ``write`` is one transaction, deduplicated on tenant + trace id + span id, and only
the spans it inserted are added to the summaries and rollups.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, or_
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from glassline.collector.records import ContentEvent, EvaluationRecord, SpanRecord
from glassline.collector.storage import (
    content,
    migrate,
    partitions,
    room,
    search_backfill,
    space,
)
from glassline.collector.storage._compiled import dialect_insert
from glassline.collector.storage.cardinality import CardinalityLimit
from glassline.collector.storage.checkpoint import Checkpointer
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.engine import WRITE, make_engine
from glassline.collector.storage.evaluations import write_evaluations
from glassline.collector.storage.group_commit import GroupCommit
from glassline.collector.storage.models import Lease
from glassline.collector.storage.retention import NS_PER_DAY, Retention
from glassline.collector.storage.write_lock import FileWriteLock
from glassline.collector.storage.writer import (
    PreparedBatch,
    SpanKey,
    WriteResult,
    write_batch,
    write_spans,
)

__all__ = ["Store", "StoreUnavailable", "WriteResult"]

_log = logging.getLogger(__name__)
# PostgreSQL deadlock / serialization failure: the transaction is safe to run again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}
_ATTEMPTS = 5
_T = TypeVar("_T")


class StoreUnavailable(Exception):
    """The store cannot be opened: the database refuses the connection, does not exist, or the
    SQLite file cannot be created. ``message`` names ``storage.url`` (without its password)
    and the database's own reason, for an operator; a traceback said the same, less clearly."""

    def __init__(self, url: str, reason: str) -> None:
        shown = make_url(url).render_as_string(hide_password=True)
        self.message = f"storage.url {shown}: cannot open the store: {reason.splitlines()[0]}"
        super().__init__(self.message)


class Store(Retention):
    """A migrated database plus the write, purge and lease operations of the collector."""

    def __init__(self, engine: Engine, config: StorageConfig) -> None:
        self.engine = engine
        self.config = config
        self.dimension_limit = CardinalityLimit(config.max_dimension_values)
        database = engine.url.database or ""
        # The database file of a file-backed SQLite store; None for PostgreSQL or :memory:.
        self.sqlite_file: str | None = None
        if engine.dialect.name == "sqlite" and database not in ("", ":memory:"):
            self.sqlite_file = database
        # Set by ``open``: a SQLite file in incremental auto-vacuum mode (see storage.space).
        self.gives_space_back = False
        self._told_no_space_back = False
        # Whether its writes find disk space, for readiness (see storage.room).
        self.room = room.Room(self.sqlite_file) if self.sqlite_file else None
        # A file-backed SQLite store checkpoints its WAL in a thread, not in writers' commits.
        self._checkpointer = Checkpointer(engine) if self.sqlite_file else None
        # Held around every write transaction: see FileWriteLock.
        self._write_lock = (
            FileWriteLock(f"{self.sqlite_file}.write-lock") if self.sqlite_file else None
        )
        # SQLite has one writer at a time: the batches waiting for it are written together.
        # PostgreSQL writes a process's batches side by side instead.
        self._group_commit = (
            GroupCommit(self.write_lock, self._write_alone) if self.dialect == "sqlite" else None
        )

    @classmethod
    def open(cls, url_or_config: str | StorageConfig, *, index_old_traces: bool = True) -> Store:
        """Connect, apply pending migrations (``upgrade head``) and return the store.

        A store from before full-text search gets its traces indexed if it is small, else a
        warning; ``index_old_traces=False`` skips both (the backfill command itself).
        """
        config = (
            url_or_config
            if isinstance(url_or_config, StorageConfig)
            else StorageConfig(url=url_or_config)
        )
        try:
            engine = make_engine(config)
        except OSError as exc:  # SQLite: the file's folder cannot be created
            raise StoreUnavailable(config.url, f"{exc.strerror}: {exc.filename}") from exc
        try:
            migrate.upgrade(engine)
            store = cls(engine, config)
            if config.partitioning is not None:
                with store._write_tx() as conn:
                    keep_ns = int(config.retention_days * NS_PER_DAY)
                    partitions.enable(conn, config.partitioning, time.time_ns(), keep_ns)
            store._check_auto_vacuum()
            if index_old_traces:
                store._index_unsearchable_traces()
        except OperationalError as exc:  # refused, no such database, not a database file
            engine.dispose()
            raise StoreUnavailable(config.url, str(exc.orig).strip()) from exc
        except Exception:
            engine.dispose()
            raise
        return store

    def _check_auto_vacuum(self) -> None:
        if self.sqlite_file is not None:
            with self.engine.connect() as conn:
                self.gives_space_back = space.auto_vacuum(conn) == space.INCREMENTAL

    def _index_unsearchable_traces(self) -> None:
        """A store from before full-text search: index its traces now if there are few (a
        second or so), else say how (the backfill is safe while the collector runs)."""
        with self.engine.connect() as conn:
            if not search_backfill.needs_backfill(conn):
                return
            limit = search_backfill.AUTO_LIMIT
            small = search_backfill.trace_count(conn, limit + 1) <= limit
        if small:
            done = self.backfill_search()
            _log.info("indexed %d traces stored before full-text search", done.indexed)
        else:
            _log.warning(
                "traces stored before full-text search are not searchable yet: run "
                "`glassline-collector search-backfill` (safe while the collector runs)"
            )

    def backfill_search(
        self,
        *,
        batch: int = 500,
        on_batch: Callable[[search_backfill.Progress], None] | None = None,
    ) -> search_backfill.Progress:
        """Give each trace without a search document one, newest first, ``batch`` traces per
        transaction; idempotent and resumable (see :mod:`.search_backfill`)."""
        with self.engine.connect() as conn:
            total = search_backfill.trace_count(conn)
        return search_backfill.run(
            self._read, self._write_retrying, total, size=batch, on_batch=on_batch
        )

    def _read(self, read: Callable[[Connection], _T]) -> _T:
        with self.engine.connect() as conn:
            return read(conn)

    def premake_partitions(self, now_ns: int | None = None) -> list[str]:
        """Create upcoming ``spans`` partitions (``storage.partitioning``); returns their names."""
        if self.config.partitioning is None:
            return []
        with self._write_tx() as conn:
            return partitions.premake(conn, self.config.partitioning, now_ns or time.time_ns())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def write_lock(self) -> AbstractContextManager[object]:
        """Held around a write transaction: one writer at a time for a file-backed SQLite
        store (across processes), nothing for the others."""
        return self._write_lock or nullcontext()

    @contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        with self.write_lock(), self._transaction() as conn:
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction; the caller holds the write lock."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn
        if self._checkpointer is not None:
            self._checkpointer.notify()

    def _write_alone(self, batch: PreparedBatch, now_ns: int) -> list[SpanKey]:
        with self._transaction() as conn:
            limit = self.dimension_limit
            return write_spans(conn, batch, now_ns, dims=limit.dims, name_of=limit.name)

    def write(self, batch: Sequence[SpanRecord], now_ns: int | None = None) -> WriteResult:
        """Store a batch in one transaction; returns how many spans were new vs duplicates.

        ``now_ns`` (default: the clock) is recorded as the traces' ``last_seen_ns``.
        """
        if not batch:
            return WriteResult(0, 0)
        now = now_ns or time.time_ns()
        prepared = PreparedBatch(batch, self.engine.dialect)  # before the write lock
        if self._group_commit is None:
            dims, name_of = self.dimension_limit.dims, self.dimension_limit.name
            return self._write_retrying(
                lambda conn: write_batch(conn, prepared, now, dims=dims, name_of=name_of)
            )
        try:
            result = self._group_commit.write(prepared, now)
        except Exception as exc:
            if self.room is not None and room.out_of_space(exc):
                self.room.refused()
            raise
        if self.room is not None:
            self.room.stored()
        return result

    def write_content(
        self, events: Sequence[ContentEvent], now_ns: int | None = None
    ) -> WriteResult:
        """Store GenAI content events in one transaction and attach them to their stored spans.

        ``inserted``/``duplicates`` count events (a resent event is a duplicate).
        """
        if not events:
            return WriteResult(0, 0)
        now = now_ns or time.time_ns()
        inserted = self._write_retrying(lambda conn: content.write_events(conn, events, now)[0])
        return WriteResult(inserted, len(events) - inserted)

    def attach_pending_content(self, window_s: float = 3600.0) -> int:
        """Attach content events of the last ``window_s`` whose span is stored but lacks them.

        Only needed after a span and its events were committed at the same moment by two
        PostgreSQL transactions (neither saw the other); returns the spans updated.
        """
        since = time.time_ns() - int(window_s * 1e9)
        return self._write_retrying(lambda conn: content.attach_pending(conn, since))

    def write_evaluations(self, records: Sequence[EvaluationRecord]) -> list[EvaluationRecord]:
        """Store evaluations (deduplicated on tenant + id) and roll them up, in one transaction.

        Returns those this call inserted. Records must be redacted already (see
        :class:`glassline.collector.evaluations.EvaluationIntake`).
        """
        if not records:
            return []
        return self._write_retrying(lambda conn: write_evaluations(conn, records))

    def _write_retrying(self, write: Callable[[Connection], _T]) -> _T:
        """Run ``write`` in a write transaction, again after a deadlock or serialization failure."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._write_tx() as conn:
                    return write(conn)
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate not in _RETRYABLE_SQLSTATES or attempt == _ATTEMPTS:
                    raise
                _log.info("write conflicted with another writer (%s), retrying", sqlstate)
        raise AssertionError("unreachable")

    def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_s`` seconds; False if another holds it.

        One atomic upsert: it succeeds when the lease is free, expired, or already ours.
        Expiry uses the callers' clocks, so replicas need synchronized time (NTP).
        """
        now = time.time_ns()
        table = Lease.__table__
        with self._write_tx() as conn:
            stmt = dialect_insert(conn.dialect, table).values(
                name=name, holder=holder, expires_ns=now + int(ttl_s * 1e9)
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"holder": stmt.excluded.holder, "expires_ns": stmt.excluded.expires_ns},
                where=or_(table.c.holder == holder, table.c.expires_ns <= now),
            ).returning(table.c.holder)
            return conn.execute(stmt).first() is not None

    def release_lease(self, name: str, holder: str) -> None:
        """Give up ``name`` if ``holder`` holds it (so another may take it at once)."""
        with self._write_tx() as conn:
            conn.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))

    def session(self) -> Session:
        """A read session for queries (``with store.session() as s: ...``)."""
        return Session(self.engine)

    def release_idle(self) -> None:
        """Close the pool's idle connections and their caches (a SQLite connection keeps up
        to 2 MB of pages and its prepared statements); the next use opens new ones.

        For when a burst of work has ended (see :mod:`glassline.collector.memory`). A
        connection in use is closed when it is returned. An in-memory SQLite database lives
        in its one connection: kept.
        """
        if self.dialect == "sqlite" and self.sqlite_file is None:
            return
        self.engine.dispose()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._write_lock is not None:
            self._write_lock.close()
        self.engine.dispose()
