"""The write lock of a file-backed SQLite store (see :class:`FileWriteLock`)."""

from __future__ import annotations

import fcntl
import os
import threading

__all__ = ["FileWriteLock"]


class FileWriteLock:
    """One SQLite writer at a time across this machine's worker processes and their threads.

    SQLite admits one writer; the others wait in its busy handler, which sleeps in steps of up
    to 100 ms and so leaves the file idle. Queued on this lock (a thread lock, then ``flock``
    on a file next to the database) the next writer starts the moment the previous one ends.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> FileWriteLock:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close the lock file (the lock is taken again by opening it anew)."""
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
