"""Whether a SQLite store has room to write, for readiness: a load balancer should not send
exports to a collector whose every write is refused for want of disk.

A full disk shows only when a write fails: SQLite reuses the free pages inside its file and
the room of its WAL, so a file system with nothing free may still take writes, and one with
a little free may refuse a large batch. So the store is *full* from a span write refused as
SQLITE_FULL ("database or disk is full") until a span write commits, or until the file
system has :data:`HEADROOM` more free than when the write was refused (the operator made
room): without that second way out, a collector taken out of a balancer's rotation would get
no write to tell it the space came back. A refusal records the free bytes of that moment in
a cell the front reads and the runners write (:class:`glassline.collector.handoff.Mesh`),
so that readiness, answered by the front, sees what the runners' writes saw.

PostgreSQL's disk is the server's, out of a collector's sight: not followed here.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
from typing import Any

__all__ = ["HEADROOM", "Room", "new_cell", "out_of_space"]

# Free bytes beyond those at the refused write that count as room again: a few batches'
# worth of WAL frames. Too little is self-correcting (the next write refuses again).
HEADROOM = 4 * 1024 * 1024
_NOT_FULL = -1.0


def new_cell() -> Any:
    """A cell for :class:`Room` in this process (the mesh makes one shared across a fork)."""
    return ctypes.c_double(_NOT_FULL)


def out_of_space(exc: BaseException) -> bool:
    """``exc`` (or what it wraps) is SQLite's refusal for want of space."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.Error) and getattr(orig, "sqlite_errorcode", None) == (
        sqlite3.SQLITE_FULL
    )


class Room:
    """The room of the file system that holds the SQLite file ``path``."""

    def __init__(self, path: str, cell: Any = None) -> None:
        self._folder = os.path.dirname(os.path.abspath(path))
        self._cell = new_cell() if cell is None else cell

    def share(self, cell: Any) -> None:
        """Keep the state in ``cell`` (a ``c_double``, shared with other processes)."""
        self._cell = cell

    def refused(self) -> None:
        """A write was refused for want of space."""
        self._cell.value = float(self._free())

    def stored(self) -> None:
        """A write committed: there was room for it."""
        if self._cell.value != _NOT_FULL:
            self._cell.value = _NOT_FULL

    def problem(self) -> str | None:
        """Why the store cannot take writes now, or None."""
        at_refusal = self._cell.value
        if at_refusal == _NOT_FULL:
            return None
        free = self._free()
        if free >= at_refusal + HEADROOM:
            return None  # made room: the next write tells (and may refuse again)
        return (
            f"the store's disk is full: writes are refused (database or disk is full); "
            f"{free / 1e6:.1f} MB free in {self._folder}"
        )

    def _free(self) -> int:
        stat = os.statvfs(self._folder)
        # The blocks kept for root are root's to write: a collector run as root fills them too.
        blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
        return blocks * stat.f_frsize
