"""storage/engine.py: the engines of the two databases."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from glassline.collector.storage import Store
from glassline.collector.storage.engine import WAL_SIZE_LIMIT_BYTES, WRITE
from glassline.collector.storage.testing import (
    DEFAULT_POSTGRES_URL,
    isolated_postgres_url,
    llm_trace,
)

T0 = 1_700_000_000_000_000_000


@pytest.mark.postgres
def test_postgresql_plans_each_write_for_the_tables_as_they_are() -> None:
    """psycopg prepares a statement on its fifth run; PostgreSQL must not then keep one
    generic plan for it, made while the store's tables were empty."""
    with isolated_postgres_url(DEFAULT_POSTGRES_URL) as url:
        store = Store.open(url)
        try:
            for n in range(12):  # one thread: every write on the pool's one connection
                store.write([span for k in range(4) for span in llm_trace(4 * n + k, T0)])
            with store.engine.connect() as conn:
                generic, custom = conn.execute(
                    text(
                        "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
                        " FROM pg_prepared_statements"
                    )
                ).one()
        finally:
            store.close()
    assert custom > 0  # the writes' statements were prepared
    assert generic == 0


def test_the_sqlite_wal_is_cut_back_once_a_long_read_lets_it_start_over(tmp_path: Path) -> None:
    """While a read is open the WAL cannot start over, so every write grows it (183 MB during
    3.4 s query API reads at 800 spans/s). Once the read ends and a checkpoint copies it, the
    next write must cut the file back to its bound, not leave it at its largest for good."""
    database = tmp_path / "glassline.db"
    wal = tmp_path / "glassline.db-wal"
    store = Store.open(f"sqlite:///{database}")
    try:
        with store.engine.connect().execution_options(**WRITE) as writer:
            writer.execute(text("CREATE TABLE ballast (b BLOB)"))
            writer.commit()
            with store.engine.connect() as reader:
                reader.execute(text("SELECT count(*) FROM ballast")).one()  # a snapshot held
                for _ in range(24):
                    writer.execute(text("INSERT INTO ballast VALUES (randomblob(4000000))"))
                    writer.commit()
                reader.rollback()
            grown = wal.stat().st_size
        with contextlib.closing(sqlite3.connect(database)) as checkpointer:
            assert checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
        store.write(list(llm_trace(1, T0)))  # the WAL starts over
        after = wal.stat().st_size  # (closing the store's last connection removes the file)
    finally:
        store.close()
    assert grown > WAL_SIZE_LIMIT_BYTES
    assert after <= WAL_SIZE_LIMIT_BYTES
