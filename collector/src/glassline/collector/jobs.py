"""Background jobs (retention purge, alert evaluation, ...), each on its own interval.

Every replica and worker runs the same jobs, but each run first takes a database lease
(:meth:`Store.try_acquire_lease`), so one process at a time does the work. A job runs in its
own thread: a slow job never blocks ingest, and a failing one is logged and tried again at
its next interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from glassline.collector.threads import NamedThread

__all__ = ["Job", "JobRunner", "LeaseStore"]

_log = logging.getLogger(__name__)


class LeaseStore(Protocol):
    def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[], object]
    first_delay_s: float = 1.0


class JobRunner:
    """Runs each :class:`Job` in a thread under a lease named ``job:<name>``."""

    def __init__(self, store: LeaseStore, jobs: list[Job], *, lease_ttl_s: float) -> None:
        self._store = store
        self._jobs = jobs
        self._lease_ttl_s = lease_ttl_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.runs: dict[str, int] = {job.name: 0 for job in jobs}

    def start(self) -> None:
        for job in self._jobs:
            thread = NamedThread(target=self._loop, args=(job,), name=f"job-{job.name}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop scheduling, wait for running jobs, and hand the leases back."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        for job in self._jobs:
            try:
                self._store.release_lease(f"job:{job.name}", self.holder)
            except Exception:
                _log.warning("could not release the lease of job %s", job.name, exc_info=True)

    def _loop(self, job: Job) -> None:
        # The holder keeps renewing while alive; if it dies another takes over after the TTL.
        ttl = max(self._lease_ttl_s, 2 * job.interval_s)
        delay = job.first_delay_s
        while not self._stop.wait(delay):
            delay = job.interval_s
            try:
                if not self._store.try_acquire_lease(f"job:{job.name}", self.holder, ttl):
                    continue
                job.run()
                self.runs[job.name] += 1
            except Exception:
                _log.exception("background job %s failed; will retry in %.0fs", job.name, delay)
