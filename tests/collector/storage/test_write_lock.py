"""storage/write_lock.py and the store's use of it: one SQLite writer at a time."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from glassline.collector.storage import Store
from glassline.collector.storage.models import Span
from glassline.collector.storage.testing import llm_trace
from glassline.collector.storage.write_lock import FileWriteLock


def test_file_write_lock_admits_one_writer_across_instances(tmp_path: Path) -> None:
    path = str(tmp_path / "gl.db.write-lock")
    first, second = FileWriteLock(path), FileWriteLock(path)  # as two worker processes hold
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first:
            order.append("first in")
            holding.set()
            release.wait(10)
            order.append("first out")

    def wait_turn() -> None:
        with second:
            order.append("second in")

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=wait_turn)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # blocked on the file lock while the first holds it
    release.set()
    holder.join(10)
    waiter.join(10)
    assert order == ["first in", "first out", "second in"]


def test_every_write_of_a_sqlite_store_waits_for_the_lock_another_store_holds(
    tmp_path: Path,
) -> None:
    """Two stores on one file, as two worker processes have: a write of one waits while the
    other holds the lock (and the spans' rows were made before, outside it)."""
    url = f"sqlite:///{tmp_path}/gl.db"
    first, second = Store.open(url), Store.open(url)
    spans = llm_trace(1, 1_700_000_000_000_000_000)
    try:
        written = threading.Event()
        with first.write_lock():
            writer = threading.Thread(target=lambda: (second.write(spans), written.set()))
            writer.start()
            assert not written.wait(0.3)  # blocked on the lock the first store holds
        assert written.wait(10)
        writer.join(10)
        with first.session() as session:
            assert session.scalar(select(func.count()).select_from(Span)) == len(spans)
    finally:
        first.close()
        second.close()
