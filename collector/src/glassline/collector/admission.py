"""Admission: refuse an export in milliseconds rather than hold it past a bound.

Every export endpoint (gRPC and HTTP, traces and logs) holds a :class:`Ticket` from the moment
it starts reading a request until its answer is sent. A request is refused (retryable,
overloaded: gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 429 with Retry-After) when accepting
it would break one of four bounds:

- **bytes**: the request bytes held in this process, reserved as the body streams in (a
  chunked upload has no length up front: each chunk is reserved before it is kept). A declared
  length (Content-Length) is checked against the room left on arrival, to refuse without
  reading a body that could not fit, but only what has arrived is held: a client that declares
  8 MB and sends nothing holds nothing;
- **requests**: the requests whose whole body is here (handed over, :meth:`Ticket.start`),
  checked on arrival and again at the hand-over;
- **receiving**: the requests still receiving their body, a separate and larger bound. As a
  proxy does (Envoy, nginx), a request that has not delivered its body does not take a place
  from those that have: 64 silent gRPC calls (metadata sent, message never) held every place of
  a worker for the 30 s body timeout, and every real export to it was refused meanwhile. What
  a receiving request costs is its bytes (bounded above) and a deadline (the body timeout).
  An HTTP upload must also keep a least rate, so a stalled one is closed within a window; a
  gRPC call's message is only seen whole, so its rate is unknown. A request that can give its
  place way (a gRPC call waiting for its message) does so once it has waited ``stall_after_s``
  and the places are all taken: the next request takes its place and it is ended, retryable
  (bound ``stalled``). 256 silent gRPC calls held every receiving place for the 30 s body
  timeout, and every real export was refused meanwhile. What has come of a gRPC message is
  held by grpc, unseen until the message is whole (up to ``max_message_bytes`` a call), so
  fewer of those may be receiving at once (``max_unseen``, refused as ``receiving``): 32 calls
  that each sent all but the last byte of a 15 MB message held +489 MB;
- **queue wait**: the time this request would wait behind the ones already handed over for
  processing (:meth:`Ticket.start`) before its own turn, estimated from their bytes and the
  rate processing recently finished bytes at. Processing runs ``slots`` exports at once (the
  export threads of every runner), so an export waits only for those beyond the other slots:
  none while a slot is free. Counted as one queue in front of one slot, the exports running
  beside a free slot made the next export "wait": two workers at the spread bench's load
  (6 senders, 512 spans) refused 400-800 exports in 20 s while their runners' export threads
  waited for work. An export that cannot start within half the
  budget is refused up front instead of answering after the exporter gave up (and then
  resending work already done). The other half absorbs the estimate's error: the store slowing
  down after the estimate, the exports ahead landing on the busier runner. Admitting up to the
  whole budget, 2.3% of a PostgreSQL run's refusals were exports that then waited past it
  (refused at the deadline, a second after they came: the refusal p99), and accepted exports
  waited a second at the median. Requests still uploading are not in the queue: a slow client's
  body neither counts as work ahead nor slows the measured rate. The estimate is made again
  when the body is complete (the queue may have grown during a long upload), and the export
  is refused then only if it could not start within the whole budget: the target was the test
  at its arrival, and an upload admitted then is not wasted for the estimate's ups and downs
  while it came in. Held to the target twice, slow clients lost out under overload: in the
  overload bench their exports were accepted 2-3% of the time at 512 spans against 8-10% for
  the others. The handed-over export carries a deadline (:attr:`Ticket.deadline`): one still
  waiting past it is refused where it waits, unrun and at the deadline itself (bound
  ``queue_wait_expired``), so what is accepted is served in time.

Refusals for queue wait begin early and at random, as random early detection does for a
router's queue: below 70% of the target every export is admitted, above the target none, and
in between each is refused with a chance rising in a line from 0 to 1. A hard threshold gives
the freed room to whichever request asks first after an export finishes, and that is not
random: the HTTP and the gRPC receivers run on two event loops, and the loop that saw the
export finish goes on to its own waiting requests before the other loop gets the GIL. In the
overload bench (10x, SQLite) gRPC exports were accepted 4.7% of the time and HTTP ones 11%;
with the early refusals each kind of client got 5-10%, and the exports refused after their
body was read (the estimate made again, above) fell from ~650 a minute to ~140 (to none once
that second estimate was held to the whole budget rather than the target).

The checks never block: a refusal costs a lock and a comparison.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics

__all__ = ["Admission", "Bound", "Ticket", "refusal"]

Bound = Literal["bytes", "requests", "receiving", "stalled", "queue_wait", "queue_wait_expired"]

# The completion rate is an average over about this much busy time, so it follows a store
# that slows down (a checkpoint, another worker holding the write lock) within seconds.
_RATE_WINDOW_S = 5.0
# Admitted exports are expected to start within this share of the queue-wait budget; the
# rest is the margin before their deadline (see the module doc).
_ADMIT_WITHIN = 0.5
# Below this share of that target every export is admitted; above it, refused at random with
# a chance rising to 1 at the target (see the module doc).
_EARLY_FROM = 0.7


class Admission:
    """Bounded in-flight work for one process; thread-safe and non-blocking."""

    def __init__(
        self,
        max_bytes: int,
        max_requests: int,
        metrics: Metrics,
        retry_after_s: float = 1.0,
        *,
        max_queue_wait_s: float | None = None,
        max_receiving: int | None = None,
        max_unseen: int | None = None,
        slots: int = 1,
        stall_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        chance: Callable[[], float] = random.random,
    ) -> None:
        """``max_queue_wait_s=None`` turns the queue-wait bound off; ``max_receiving`` (requests
        still receiving their body) defaults to ``max_requests``, and ``max_unseen`` of them
        (None: any) may be ones whose bytes are seen only whole; ``slots`` is how many
        handed-over exports run at once; ``stall_after_s`` is how long a request that can give
        way (:meth:`Ticket.give_way_with`) keeps its receiving place when the places are all
        taken (None: for good); ``chance`` draws the uniform [0, 1) numbers of the early
        refusals."""
        self.max_bytes = max_bytes
        self.max_requests = max_requests
        self.max_receiving = max_requests if max_receiving is None else max_receiving
        self.max_unseen = max_unseen
        self.max_queue_wait_s = max_queue_wait_s
        self.slots = slots
        self.stall_after_s = stall_after_s
        # The wait admission aims to start exports within, and where its early refusals begin.
        self._target_s = None if max_queue_wait_s is None else max_queue_wait_s * _ADMIT_WITHIN
        self._early_s = None if self._target_s is None else self._target_s * _EARLY_FROM
        self._metrics = metrics
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._chance = chance
        self._lock = threading.Lock()
        self.bytes = 0
        self.requests = 0  # every ticket held, receiving or handed over
        self.receiving = 0  # ... of which still receiving their body
        self.unseen = 0  # ... of which hold bytes it cannot see yet (admit(unseen=True))
        self.queued_bytes = 0  # of the requests handed over for processing
        self._queued = 0
        # Bytes finished and seconds spent with at least one request handed over, both decayed:
        # their ratio is the recent completion rate.
        self._done_bytes = 0.0
        self._busy_s = 0.0
        self._mark = clock()
        # The receiving tickets that can give way, oldest first, with their callbacks.
        self._yielding: dict[Ticket, Callable[[], object]] = {}

    def refuse_on_arrival(self, declared: int = 0) -> RetryableError | None:
        """:meth:`admit`'s test on arrival alone, holding nothing: the refusal (counted), or
        None. A request that passes goes on to ``admit(..., drawn=True)``, which does not
        draw its early refusal's chance a second time (each request gets one draw, whichever
        receiver it came by: see the module doc)."""
        with self._lock:
            self._tick()
            bound = self._refusal(declared)
            if bound == "receiving" and self._stalled_locked() is not None:
                bound = None  # admit() ends the stalled request for this one
        return None if bound is None else self._refuse(bound)

    @contextmanager
    def admit(
        self, nbytes: int = 0, *, declared: int = 0, drawn: bool = False, unseen: bool = False
    ) -> Iterator[Ticket]:
        """Hold one receiving request and ``nbytes`` for the block; ``declared`` more bytes
        must fit now but are held only as they arrive (:meth:`Ticket.reserve`). Raises
        RetryableError if over a bound; ``drawn``: :meth:`refuse_on_arrival` passed it just
        now, so the queue wait's chance is not drawn again (its bounds are tested again);
        ``unseen``: its bytes are held elsewhere until the body is whole (``max_unseen``)."""
        with self._lock:
            self._tick()
            bound = self._refusal(nbytes + declared, draw=not drawn, unseen=unseen)
            end_stalled = None
            if bound == "receiving":
                end_stalled = self._give_way_locked(
                    nbytes + declared, draw=not drawn, unseen=unseen
                )
            if end_stalled is not None:
                bound = None
            if bound is None:
                self.requests += 1
                self.receiving += 1
                self.unseen += unseen
                self.bytes += nbytes
        if bound is not None:
            raise self._refuse(bound)
        if end_stalled is not None:
            self._metrics.refused.labels("stalled").inc()
            self._metrics.receiving_requests.dec()
            end_stalled()  # its place is this request's now
        ticket = Ticket(self, nbytes)
        ticket.unseen = unseen
        self._metrics.receiving_requests.inc()
        self._metrics.inflight_bytes.inc(nbytes)
        outcome = "error"
        try:
            yield ticket
            outcome = "ok"
        finally:
            if ticket.started_at is not None:
                answer = self._metrics.answer_seconds.labels(outcome)
                answer.observe(self._clock() - ticket.started_at)
            with self._lock:
                self._tick()
                self._yielding.pop(ticket, None)
                self.bytes -= ticket.nbytes
                if not ticket.gave_way:  # else its places were given already
                    self.requests -= 1
                if ticket.started:
                    self._queued -= 1
                    self.queued_bytes -= ticket.nbytes
                    self._done_bytes += ticket.nbytes
                elif not ticket.whole and not ticket.gave_way:
                    self._leave_receiving_locked(ticket)
            if ticket.whole:
                self._metrics.inflight_requests.dec()
            elif not ticket.gave_way:
                self._metrics.receiving_requests.dec()
            self._metrics.inflight_bytes.dec(ticket.nbytes)

    def queue_wait_s(self) -> float:
        """Estimated wait of a request admitted now behind those in flight (0 if unknown)."""
        with self._lock:
            self._tick()
            return self._wait_locked()

    def _start(self, ticket: Ticket) -> float | None:
        """Take a place among the whole requests for ``ticket``, queue its bytes and return its
        deadline to start; raises if no place is left or it is too late already."""
        with self._lock:
            self._tick()
            ticket.started_at = self._mark  # now
            budget = self.max_queue_wait_s  # the test at arrival was the target: see the module doc
            self._yielding.pop(ticket, None)
            bound: Bound | None = None
            if ticket.gave_way:  # its place went to a newer request as its body came in
                raise ticket.gave_way_error()
            if self.requests - self.receiving >= self.max_requests:
                bound = "requests"  # the places filled while this body came in
            elif budget is not None and self._wait_locked() > budget:
                bound = "queue_wait"
            # Whole from here, refused or not: it no longer takes a receiving place.
            self._leave_receiving_locked(ticket)
            ticket.whole = True
            if bound is None:
                self._queued += 1
                self.queued_bytes += ticket.nbytes
        self._metrics.receiving_requests.dec()
        self._metrics.inflight_requests.inc()
        if bound is not None:
            raise self._refuse(bound)
        return None if budget is None else ticket.started_at + budget

    def _tick(self) -> None:
        now = self._clock()
        if self._queued > 0:
            self._busy_s += now - self._mark
            if self._busy_s > _RATE_WINDOW_S:
                # Halve both: a decayed average that never forgets the rate entirely.
                self._busy_s /= 2
                self._done_bytes /= 2
        self._mark = now

    def _wait_locked(self) -> float:
        if self._queued < self.slots or self._done_bytes <= 0 or self._busy_s <= 0:
            return 0.0  # a slot is free: it starts now
        # It starts once the exports beyond the other slots' are done: on average, the bytes
        # of all but ``slots - 1`` of those handed over.
        ahead = self.queued_bytes * (self._queued - self.slots + 1) / self._queued
        return ahead / (self._done_bytes / self._busy_s)

    def _stalled_locked(self) -> Ticket | None:
        """The oldest request that can give way and has waited long enough, if any."""
        if self.stall_after_s is None or not self._yielding:
            return None
        oldest = next(iter(self._yielding))
        return None if oldest.arrived_at > self._mark - self.stall_after_s else oldest

    def _give_way_locked(
        self, nbytes: int, *, draw: bool, unseen: bool
    ) -> Callable[[], object] | None:
        """Take the receiving place of the oldest request that can give way and has waited
        long enough, if that admits a request of ``nbytes``; returns how to end it."""
        oldest = self._stalled_locked()
        if oldest is None:
            return None
        self.requests -= 1
        self._leave_receiving_locked(oldest)
        if self._refusal(nbytes, draw=draw, unseen=unseen) is not None:
            # another bound refuses it all the same
            self.requests += 1
            self.receiving += 1
            self.unseen += oldest.unseen
            return None
        oldest.gave_way = True
        return self._yielding.pop(oldest)

    def _leave_receiving_locked(self, ticket: Ticket) -> None:
        self.receiving -= 1
        self.unseen -= ticket.unseen

    def _refusal(self, nbytes: int, *, draw: bool = True, unseen: bool = False) -> Bound | None:
        if self.requests - self.receiving >= self.max_requests:
            return "requests"  # it could not be handed over once here: refused unread
        if self.receiving >= self.max_receiving:
            return "receiving"
        if unseen and self.max_unseen is not None and self.unseen >= self.max_unseen:
            return "receiving"
        if self.bytes + nbytes > self.max_bytes:
            return "bytes"
        if self._refused_early_locked(draw):
            return "queue_wait"
        return None

    def _refused_early_locked(self, draw: bool) -> bool:
        """The arrival check of the queue wait: certain above the target, by chance above
        :data:`_EARLY_FROM` of it (when ``draw``)."""
        target, early = self._target_s, self._early_s
        if target is None or early is None:
            return False
        wait = self._wait_locked()
        if wait <= early:
            return False
        return wait > target or (draw and self._chance() < (wait - early) / (target - early))

    def _reserve(self, ticket: Ticket, extra: int) -> None:
        with self._lock:
            refused = self.bytes + extra > self.max_bytes
            if not refused:
                self.bytes += extra
                ticket.nbytes += extra
        if refused:
            raise self._refuse("bytes")
        self._metrics.inflight_bytes.inc(extra)

    def _refuse(self, bound: Bound) -> RetryableError:
        return refusal(bound, self._metrics, self._retry_after_s)


def refusal(bound: Bound, metrics: Metrics, retry_after_s: float) -> RetryableError:
    """The retryable "overloaded" error for a refusal at ``bound``, counted."""
    metrics.refused.labels(bound).inc()
    what = {
        "bytes": "in-flight bytes",
        "requests": "in-flight requests",
        "receiving": "receiving requests",
        "queue_wait": "queue wait",
        "queue_wait_expired": "queue wait",
    }[bound]
    return RetryableError(
        f"collector is at its {what} limit; retry later",
        retry_after_s=retry_after_s,
        overloaded=True,
    )


class Ticket:
    """One admitted request; :meth:`reserve` holds more bytes as they arrive, :meth:`start`
    marks it handed over for processing."""

    def __init__(self, admission: Admission, nbytes: int) -> None:
        self._admission = admission
        self.nbytes = nbytes
        self.whole = False  # its body is all here: it counts among the requests, not receiving
        self.started = False  # ... and it was handed over for processing
        self.started_at: float | None = None  # when the whole body was handed over
        self.arrived_at = 0.0  # since when it can give way
        self.gave_way = False  # its places went to a newer request as its body came in
        self.unseen = False  # its bytes are held elsewhere until its body is whole
        # On the admission's clock (time.monotonic: the same in every process of this host),
        # the latest time processing may start; None without a queue-wait bound.
        self.deadline: float | None = None

    def start(self) -> None:
        """The whole request is here and goes to processing: it is work ahead of the next.

        Raises RetryableError if it could no longer start within the queue-wait budget.
        """
        if not self.started:
            self.deadline = self._admission._start(self)
            self.started = True

    def give_way_with(self, end: Callable[[], object]) -> None:
        """Let this request give its receiving place to a newer one once it has waited
        ``stall_after_s`` for its body and the places are all taken: ``end`` is then called,
        from any thread, to end it, and :meth:`start` refuses it."""
        admission = self._admission
        with admission._lock:
            if not self.whole:
                self.arrived_at = admission._clock()
                admission._yielding[self] = end

    def gave_way_error(self) -> RetryableError:
        """What a request that gave its place way (:meth:`give_way_with`) is answered."""
        return RetryableError(
            f"the export's body had not come whole after {self._admission.stall_after_s:g} s "
            "when every receiving place was taken, and its place went to a newer request; retry",
            retry_after_s=self._admission._retry_after_s,
            overloaded=True,
        )

    def reserve(self, total: int) -> None:
        """Hold ``total`` bytes for this request (no-op if already held); raises if over."""
        if total > self.nbytes:
            self._admission._reserve(self, total - self.nbytes)
