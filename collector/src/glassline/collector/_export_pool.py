"""Exports run on this process's threads; one still queued at its deadline is refused then."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from glassline.collector.admission import refusal
from glassline.collector.auth import Principal
from glassline.collector.errors import GlasslineError
from glassline.collector.metrics import Metrics
from glassline.collector.threads import NamedThread, name_pool_thread

if TYPE_CHECKING:  # handoff.py runs its exports here: only its types are needed
    from glassline.collector.handoff import Exporter, Kind

__all__ = ["ExportPool"]


class ExportPool:
    """Exports run on this process's threads, counted under this worker's index."""

    def __init__(
        self, exporters: Mapping[Kind, Exporter], threads: int, metrics: Metrics, index: int,
        retry_after_s: float,
    ) -> None:  # fmt: skip
        self._exporters = dict(exporters)
        self._metrics = metrics
        self._worker = str(index)
        self._retry_after_s = retry_after_s
        self._threads = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="export", initializer=name_pool_thread
        )
        self._expiry = _Expiry(self._expired)

    def submit(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None, *, on_taken: Callable[[], object] | None = None,
    ) -> Future[Message]:  # fmt: skip
        """The export's reply; one still queued at ``deadline`` is refused then, unrun.
        ``on_taken`` is called (on the thread) when a thread takes the export to run it.

        The refusal does not wait for a thread to free up: with every thread busy storing, a
        late export was answered only when one did, seconds past its deadline (the overload
        bench measured expired refusals answered 1-2 s after it).
        """
        job = _Job(on_taken)
        args = (kind, transport, principal, body, encoding, deadline)
        self._threads.submit(job.run, self._run, *args)
        if deadline is not None:
            self._expiry.add(deadline, job)
        return job.future

    def _expired(self, job: _Job) -> None:
        # Its exporter is close to giving up: an answer now, and no work spent on it.
        job.refuse(lambda: refusal("queue_wait_expired", self._metrics, self._retry_after_s))

    def _run(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None,
    ) -> Message:  # fmt: skip
        if deadline is not None and time.monotonic() > deadline:
            raise refusal("queue_wait_expired", self._metrics, self._retry_after_s)
        self._metrics.exports_run.labels(self._worker).inc()
        exporter = self._exporters[kind]
        return exporter.reply(exporter.export(transport, principal, body, encoding))

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True)
        self._expiry.stop()


class _Job:
    """One export's future, claimed once: by the thread that runs it or by its expiry."""

    def __init__(self, on_taken: Callable[[], object] | None = None) -> None:
        self.future: Future[Message] = Future()
        self._claim = threading.Lock()
        self._on_taken = on_taken

    def run(self, work: Callable[..., Message], *args: Any) -> None:
        if not self._claim.acquire(blocking=False):
            return  # refused at its deadline while queued: nothing to run
        try:
            if self._on_taken is not None:
                self._on_taken()
            self.future.set_result(work(*args))
        except GlasslineError as exc:  # the export's answer (unreadable, not stored...)
            self.future.set_exception(exc.answer_only())
        except BaseException as exc:  # a bug: answered, and logged with its traceback
            self.future.set_exception(exc)

    def refuse(self, error: Callable[[], GlasslineError]) -> None:
        """Answer ``error()`` (counted once made) unless a thread already took the export."""
        if self._claim.acquire(blocking=False):
            self.future.set_exception(error())


class _Expiry:
    """One thread that calls ``expire`` on each job still unanswered at its deadline
    (``time.monotonic``)."""

    def __init__(self, expire: Callable[[_Job], None]) -> None:
        self._expire = expire
        self._due: list[tuple[float, int, weakref.ref[_Job]]] = []
        self._ids = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread = NamedThread(target=self._loop, name="export-expiry", daemon=True)
        self._thread.start()

    def add(self, deadline: float, job: _Job) -> None:
        """Expire ``job`` at ``deadline`` unless it is gone by then: the job is held weakly,
        so one that ended does not wait here for its deadline. A failed export's error holds
        its frames, and they hold its body: each 8 MB export refused as unreadable stayed in
        its runner for the queue-wait budget (a second), and a flood of them held hundreds of
        MB there."""
        with self._changed:
            heapq.heappush(self._due, (deadline, next(self._ids), weakref.ref(job)))
            self._changed.notify()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._changed.wait(wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._due)[2]()
            if job is not None and not job.future.done():
                self._expire(job)
            del job  # not kept while the next deadline is awaited
