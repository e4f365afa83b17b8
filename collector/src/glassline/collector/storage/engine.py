"""Engines for the two supported databases, tuned for many writers.

SQLite: WAL (readers never block the writer), incremental auto-vacuum (for new files), ``synchronous=NORMAL`` (durable at each WAL
checkpoint, safe against process crashes), a busy timeout, and ``BEGIN IMMEDIATE`` for write
transactions so two processes never both hold a read lock and then deadlock upgrading it.
PostgreSQL: psycopg 3 with a pre-pinged pool, every statement planned for the tables as they
are when it runs (see :func:`_postgres_engine`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from glassline.collector.storage.config import StorageConfig

__all__ = ["WAL_AUTOCHECKPOINT_PAGES", "WAL_SIZE_LIMIT_BYTES", "WRITE", "make_engine"]

WAL_AUTOCHECKPOINT_PAGES = 8000  # 32 MB of 4 KB pages
# What a WAL file is cut back to once a checkpoint has copied it all: a long read keeps the WAL
# from starting over, so it grows with every write meanwhile (183 MB during 3.4 s query API
# reads at 800 spans/s), and SQLite otherwise keeps the file at its largest for good.
WAL_SIZE_LIMIT_BYTES = 2 * WAL_AUTOCHECKPOINT_PAGES * 4096

# Execution option that marks a connection as a writer (SQLite takes the write lock at BEGIN).
WRITE = {"glassline_write": True}


def make_engine(config: StorageConfig) -> Engine:
    url = make_url(config.url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(config, url)
    return _postgres_engine(config, url)


def _postgres_engine(config: StorageConfig, url: Any) -> Engine:
    engine = create_engine(
        url,
        pool_size=config.pool_size,
        max_overflow=config.max_overflow,
        pool_timeout=config.pool_timeout_s,
        pool_pre_ping=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # psycopg prepares a statement on its fifth run, and PostgreSQL then keeps one generic
        # plan for it while the connection lives, made for the tables as they were: on a new
        # store, empty ones. The writers' key lookups kept that plan as the tables grew (in
        # bench.overload the pages read from `traces` per second grew 4.5-fold within two
        # minutes at the same throughput, and 10x stored 0.66-0.79x of the capacity; 0.91x
        # with every statement planned as it runs, PostgreSQL 15, autovacuum off).
        if dbapi_connection.info.server_version >= 120000:  # the setting is PostgreSQL 12's
            dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
            dbapi_connection.commit()  # a session setting, kept when a transaction rolls back

    return engine


def _sqlite_engine(config: StorageConfig, url: Any) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": config.busy_timeout_ms / 1000})
    busy_ms = config.busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Before anything creates the file's first table (the migrations): only a store
        # created so can give the pages that retention frees back (see storage.space); an
        # older one needs `glassline-collector compact`. Only on an empty file: on an existing
        # one setting it is a write, which made every open read transaction that then wrote
        # fail at once (SQLITE_BUSY: its snapshot was no longer the newest).
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        # The store's checkpoint thread keeps the WAL short; writers checkpoint only if it
        # falls this far behind (pages; 1000 by default made every third commit checkpoint).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("glassline_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
