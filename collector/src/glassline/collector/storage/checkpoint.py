"""SQLite WAL checkpoints off the write path: a thread of the store runs them.

By default the connection whose commit grows the WAL past ``wal_autocheckpoint`` pages copies
the WAL into the database file and fsyncs both, inside ``commit()``: every third batch
paid 40-80 ms for it while holding up the single writer. A ``PASSIVE`` checkpoint on another
connection does the same work without taking the write lock, so writers go on meanwhile.
Durability is unchanged: a commit is as durable once it is in the WAL (``synchronous``
decides that); checkpoints only move pages into the main file. The writers keep a larger
``wal_autocheckpoint`` (see ``engine``) as a bound on the WAL if this thread falls behind.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from glassline.collector.threads import NamedThread

__all__ = ["Checkpointer"]

_log = logging.getLogger(__name__)


class Checkpointer:
    """A daemon thread that checkpoints the SQLite WAL of ``engine`` after each
    :meth:`notify` (a commit) and at least every ``interval_s``.

    Right after a commit is when a checkpoint can catch up with the WAL before the next
    write begins; only then may that write start the WAL over from its beginning.
    """

    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = False
        self._thread = NamedThread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int]:
        """One ``PASSIVE`` checkpoint: copies what it can, never waits for readers or writers.

        Returns the WAL's size and how much of it is now in the database file (pages).
        """
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            _busy, wal_pages, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return wal_pages, copied

    def notify(self) -> None:
        """A write committed: checkpoint soon (never blocks the caller)."""
        self._wake.set()

    def _run(self) -> None:
        failing = False
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stop:
                return
            try:
                self.checkpoint()
            except Exception as exc:  # a full disk, a busy or closing database: retried
                # Once per episode: a full disk logged a traceback every second in each
                # process (96 in a minute), burying what the operator needed to read.
                _log.log(
                    logging.DEBUG if failing else logging.WARNING,
                    "WAL checkpoint failed (%s: %s); retried every %g s, logged again when "
                    "it works", type(exc).__name__, exc, self._interval_s,
                    exc_info=failing,
                )  # fmt: skip
                failing = True
            else:
                if failing:
                    _log.info("WAL checkpoint works again")
                failing = False

    def close(self) -> None:
        """Stop the thread (after the checkpoint in progress, if any)."""
        self._stop = True
        self._wake.set()
        self._thread.join()
