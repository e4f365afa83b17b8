"""Giving the pages that deletes free in a SQLite store back to the file system.

SQLite keeps a deleted row's pages in the file as free pages and reuses them for later
writes, so the file never shrinks: after the retention pass of a 2.2 GB store (2,000,008
spans, 1.47M of them past seven days) 0.9 GB of it was free pages. A store created with
``auto_vacuum=INCREMENTAL`` (every new one, see :mod:`.engine`) can hand them back a few at a
time with ``PRAGMA incremental_vacuum``, each step a short write transaction of its own. A
store created before cannot: :func:`compact` (one ``VACUUM``) rewrites it once into that mode.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

__all__ = ["INCREMENTAL", "RELEASE_PAGES", "auto_vacuum", "compact", "free_pages", "release"]

INCREMENTAL = 2  # PRAGMA auto_vacuum: 0 none, 1 full, 2 incremental
# Free pages one give-back transaction hands back at most (2 MB of 4 KB pages): each moves
# up to as many pages from the end of the file into the holes, under the write lock. 4,096 a
# transaction held it for up to 3.5 s (about 1 s on average) on the 2,000,008-span store.
RELEASE_PAGES = 512


def auto_vacuum(conn: Connection) -> int:
    """The store's ``auto_vacuum`` mode (:data:`INCREMENTAL` can give space back)."""
    return int(conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one())


def free_pages(conn: Connection) -> int:
    """Pages of the file that hold no data."""
    return int(conn.exec_driver_sql("PRAGMA freelist_count").scalar_one())


def release(conn: Connection, pages: int = RELEASE_PAGES) -> int:
    """Hand up to ``pages`` free pages back to the file system (in the caller's write
    transaction); returns how many went. The file shrinks when the WAL is checkpointed."""
    before = free_pages(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        # One page per statement: ``incremental_vacuum(N)`` frees a page per result row, and
        # Python's sqlite3 steps a statement without columns once, so N would free only one.
        for _ in range(min(pages, before)):
            cursor.execute("PRAGMA incremental_vacuum(1)")
    finally:
        cursor.close()
    return before - free_pages(conn)


def compact(driver_connection: Any) -> None:
    """Rewrite the whole file without its free pages, in ``auto_vacuum=INCREMENTAL`` mode
    from then on (``VACUUM`` on a ``sqlite3`` connection outside a transaction: it holds the
    write lock throughout, and needs free disk for a copy of the data in the temp directory)."""
    driver_connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
    driver_connection.execute("VACUUM")
    # The rewrite went through the WAL: copy it into the file now, and start it over.
    driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
