"""storage/space.py: a SQLite store gives the pages that retention frees back to the disk."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, event

from glassline.collector.records import SpanRecord
from glassline.collector.storage import StorageConfig, Store, space
from glassline.collector.storage.models import Span
from glassline.collector.storage.testing import llm_trace

T0 = 1_790_000_000 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000
NOW = T0 + 30 * DAY_NS


def bulky(first: int, count: int, start_ns: int) -> list[SpanRecord]:
    """``count`` traces whose model calls carry 4 KB of (made-up) prompt each."""
    spans = []
    for n in range(first, first + count):
        for span in llm_trace(n, start_ns + n * 1_000_000_000):
            if span.kind == "llm":
                span.attributes["gen_ai.input.messages"] = f"prompt {n} " + "x" * 4000
            spans.append(span)
    return spans


def fill(store: Store) -> None:
    for first in range(0, 600, 100):
        store.write(bulky(first, 100, NOW - 10 * DAY_NS))  # past retention
    store.write(bulky(1000, 20, NOW - DAY_NS))  # kept


def pages(database: Path) -> tuple[int, int]:
    """The file's pages and how many of them are free (the WAL copied in first)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        count = conn.execute("PRAGMA page_count").fetchone()[0]
        return count, conn.execute("PRAGMA freelist_count").fetchone()[0]


def test_retention_gives_the_pages_it_frees_back_to_the_disk(tmp_path: Path) -> None:
    """The file shrinks after a retention pass instead of keeping the space for good."""
    database = tmp_path / "glassline.db"
    store = Store.open(StorageConfig(url=f"sqlite:///{database}", retention_days=7))
    try:
        fill(store)
        before, _ = pages(database)
        counts = store.purge(NOW)
        assert counts["traces"] == 600
        after, free = pages(database)
    finally:
        store.close()
    assert counts["free_pages_released"] > before / 2
    assert free == 0
    assert after < before / 3
    assert database.stat().st_size == after * 4096


def test_each_give_back_transaction_releases_a_bounded_number_of_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving pages holds the write lock: a short transaction at a time, so exports get it
    in between."""
    database = tmp_path / "glassline.db"
    store = Store.open(StorageConfig(url=f"sqlite:///{database}", retention_days=7))
    try:
        fill(store)
        with store.engine.begin() as conn:
            conn.execute(delete(Span))
        _, free = pages(database)
        monkeypatch.setattr(space, "RELEASE_PAGES", 100)
        commits: list[int] = []
        event.listen(store.engine, "commit", lambda _conn: commits.append(1))
        released = store.release_free_pages()
        assert released == free > 500
        assert len(commits) >= free / 100
    finally:
        store.close()


def old_store(database: Path) -> None:
    """A store file as created before incremental auto-vacuum (no such mode)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE ballast (b BLOB)")


def test_a_store_that_cannot_give_space_back_says_so_once_and_compact_fixes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "glassline.db"
    old_store(database)
    store = Store.open(StorageConfig(url=f"sqlite:///{database}", retention_days=7))
    try:
        fill(store)
        with caplog.at_level(logging.WARNING, "glassline.collector.storage.store"):
            assert store.purge(NOW)["free_pages_released"] == 0
            store.write(bulky(2000, 100, NOW - 10 * DAY_NS))
            store.purge(NOW)
        told = [r.getMessage() for r in caplog.records if "compact" in r.getMessage()]
        assert len(told) == 1 and "cannot give back" in told[0]
        before, free = pages(database)
        assert free > before / 2
        store.compact()
        after, free_after = pages(database)
        assert after <= before - free + 10 and free_after == 0
        with contextlib.closing(sqlite3.connect(database)) as conn:
            assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == space.INCREMENTAL
        store.write(bulky(3000, 100, NOW - 10 * DAY_NS))
        assert store.purge(NOW)["free_pages_released"] > 0
    finally:
        store.close()
