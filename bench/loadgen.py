"""The overload bench's load generator: one asyncio process, cheap per request.

A threaded generator (sync gRPC and httpx clients) spent 2-3 ms of CPU per request, so at
10x capacity it took 1.2-1.6 of this machine's 2 cores and measured itself, not the
collector; ``grpc.aio`` and asyncio streams still spent 0.3-0.37 ms. Here every request is
pre-encoded (gzip bodies compressed before the phase starts) and written whole on a
keep-alive connection by the clients of :mod:`bench.wire` (HTTP/1.1, and gRPC over HTTP/2),
its answer coming to a callback; slow uploads trickle on asyncio streams of their own.

Every kind is timed the same way: from the first byte written (or the call started) to the
whole answer read. The exception is the slow client (see :meth:`Generator.slow`).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.ingest import EXPORT, make_batch
from bench.wire import GrpcConnection, Http1Connection, answer_hint

SPANS = 100  # per request by default: a lightly loaded exporter's batch (see bench.overload)
MARK = b"\x7fOVERLD\x7f"  # the first 8 bytes of every template trace id, replaced per request
KINDS = ("grpc",) * 4 + ("http",) * 2 + ("gzip",) * 2 + ("chunked", "slow")
TIMEOUT = 10.0  # an OTLP exporter's default
GRPC_CHANNELS = 4  # exporters keep a connection or two each: a few, not one per request
CLOSED_LOOP_SENDERS = 8
PROBE_PAUSE = 0.02  # the probe's pacing between its requests
SLOW_PAUSE = 0.2  # the slow client's pause before each of its 8 chunks
REFUSED_PAUSE = 1.0  # a refused closed-loop sender's wait: the collector's default Retry-After
ARRIVALS = ("uniform", "poisson")


def send_times(n: int, rate: float, arrivals: str, rng: random.Random) -> list[float]:
    """When each of ``n`` open-loop requests is sent, in seconds from the phase's start.

    ``uniform``: one every ``1 / rate``, as a single regular sender sends; every request then
    finds the collector idle since the last one, the dearest case for its wake-ups.
    ``poisson``: independent exponential gaps of mean ``1 / rate``, what the requests of many
    independent exporters add up to (each of them regular or not).
    """
    if arrivals == "uniform":
        return [k / rate for k in range(n)]
    if arrivals != "poisson":
        raise ValueError(f"arrivals must be one of {ARRIVALS}, not {arrivals!r}")
    times, now = [], 0.0
    for _ in range(n):
        times.append(now)
        now += rng.expovariate(rate)
    return times


def template(spans: int = SPANS) -> tuple[bytes, list[tuple[bytes, str]]]:
    """One request of ``spans`` spans whose trace ids all start with MARK, and its
    (trace id tail, span id)s."""
    request = ExportTraceServiceRequest.FromString(make_batch(random.Random(7), spans))
    keys = []
    tails: dict[bytes, bytes] = {}
    for span in request.resource_spans[0].scope_spans[0].spans:
        tail = tails.setdefault(span.trace_id, len(tails).to_bytes(8, "big"))
        span.trace_id = MARK + tail
        keys.append((tail, span.span_id.hex()))
    return request.SerializeToString(), keys


@dataclass
class Outcome:
    kind: str
    code: str
    seconds: float  # what the collector controls: see Generator.slow for the slow clients
    hint: bool  # a refusal carried Retry-After / RetryInfo
    prefix: bytes | None  # set when acknowledged


@dataclass
class Plan:
    grpc_target: str
    http_url: str
    key: str
    rate: float  # requests per second from this process
    seconds: float
    closed_loop: bool
    worker: int
    probe: bool = False  # one request at a time, gRPC and HTTP in turn (see Generator.probe)
    kinds: tuple[str, ...] = KINDS  # the open-loop mix
    spans: int = SPANS  # per request
    policy: str = "batch"  # the process's scheduling policy: see bench.overload --help
    arrivals: str = "uniform"  # the open loop's spacing: see send_times
    outcomes: list[Outcome] = field(default_factory=list)


# Set in each load process by start_together: the processes of one phase begin sending at once.
_start_line: threading.Barrier | None = None


def start_together(line: threading.Barrier) -> None:
    """A pool initializer: every process waits at ``line`` (a ``multiprocessing`` Barrier of
    them all) once its requests are built, and then they begin together.

    An open-loop process builds its whole schedule first (seconds, gzip included), the probe
    nothing: starting at once, the probe had that while to itself on an idle collector, and
    its exports answered in 20 ms then counted as stored during the overload (2-3% of the
    capacity in a 60 s run).
    """
    global _start_line
    _start_line = line


def run_plan(plan: Plan) -> tuple[list[Outcome], float, float]:
    """One load process: its outcomes, the CPU seconds it spent while sending, and when it
    began to send (``time.monotonic``, the same clock in every process of this host)."""
    if plan.policy == "batch":  # clients elsewhere do not preempt the collector
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    return asyncio.run(Generator(plan).run())


async def _read_answer(reader: asyncio.StreamReader) -> tuple[str, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    code, hint, _, length = answer_hint(head[:-4])
    await reader.readexactly(length)
    return code, hint


def _chunked(payload: bytes, pieces: int = 8) -> list[bytes]:
    """The payload in ``pieces`` chunks, each framed as HTTP/1.1 chunked encoding."""
    step = max(1, len(payload) // pieces)
    return [
        b"%x\r\n%s\r\n" % (len(payload[i : i + step]), payload[i : i + step])
        for i in range(0, len(payload), step)
    ]


class Generator:
    """Sends one Plan's requests from one event loop."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        body, _ = template(plan.spans)
        # A request is the template with its prefix at every MARK: joining the pieces costs
        # 3 us a request, bytes.replace scanned all 120 KB for 65 us.
        self.pieces = body.split(MARK)
        url = urlsplit(plan.http_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        common = f"Host: {url.netloc}\r\nContent-Type: application/x-protobuf\r\n" + (
            f"x-glassline-api-key: {plan.key}\r\n"
        )
        self.heads = {
            "http": f"POST /v1/traces HTTP/1.1\r\n{common}Content-Length: %d\r\n\r\n",
            "gzip": f"POST /v1/traces HTTP/1.1\r\n{common}Content-Encoding: gzip\r\n"
            "Content-Length: %d\r\n\r\n",
            "chunked": f"POST /v1/traces HTTP/1.1\r\n{common}Transfer-Encoding: chunked\r\n\r\n",
            "slow": f"POST /v1/traces HTTP/1.1\r\n{common}Transfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n",
        }
        self.idle: list[Http1Connection] = []
        self.grpc_slots: list[GrpcConnection] = []
        self.outcomes: list[Outcome] = []

    def prefix(self, n: int) -> bytes:
        """Unique per phase and process; n is never 0 (an all-zero trace id is invalid)."""
        return bytes([self.plan.closed_loop, self.plan.worker]) + n.to_bytes(6, "big")

    async def run(self) -> tuple[list[Outcome], float, float]:
        plan = self.plan
        self.grpc_slots = [self._grpc_connection() for _ in range(GRPC_CHANNELS)]
        schedule: list[tuple[float, str, bytes, bytes]] = []  # (send time, kind, prefix, gzip body)
        if not plan.closed_loop and not plan.probe:
            rng = random.Random(plan.worker)
            # Poisson gaps add up to the phase's length only on average: 5% more covers it.
            count = int(plan.rate * plan.seconds * (1.05 if plan.arrivals == "poisson" else 1)) + 1
            times = send_times(count, plan.rate, plan.arrivals, random.Random(-1 - plan.worker))
            for n, at in enumerate(times, start=1):
                kind = rng.choice(plan.kinds)
                prefix = self.prefix(n)
                payload = prefix.join(self.pieces)
                if kind == "gzip":  # compressed now, so the phase itself spends nothing on it
                    payload = gzip.compress(payload, 1)
                schedule.append((at, kind, prefix, payload if kind == "gzip" else b""))
        # A full collection scans every object: with the schedule built (~110,000 of them) it
        # stopped this loop for 80-160 ms on the 2-core host, and the requests in flight then
        # (a fresh connection's first, mostly) measured the generator, not the collector.
        gc.freeze()
        if _start_line is not None:
            await asyncio.get_running_loop().run_in_executor(None, _start_line.wait)
        cpu = time.process_time()
        started = time.monotonic()
        deadline = started + plan.seconds
        try:
            if plan.probe:
                await self.probe(deadline)
            elif plan.closed_loop:
                await self.closed_loop(deadline)
            else:
                await self.open_loop(deadline, schedule)
        finally:
            gc.unfreeze()
        spent = time.process_time() - cpu
        for connection in self.grpc_slots:
            connection.close()
        for idle in self.idle:
            idle.close()
        return self.outcomes, spent, started

    def open_loop(
        self, deadline: float, schedule: list[tuple[float, str, bytes, bytes]]
    ) -> asyncio.Future[None]:
        """Each request at its time (from :func:`send_times`), whether or not the earlier ones
        were answered: done once every request sent before ``deadline`` is answered."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        start = loop.time()  # time.monotonic, as ``deadline``
        in_flight = 0
        sending = True

        def answered(outcome: Outcome) -> None:
            nonlocal in_flight
            self.outcomes.append(outcome)
            in_flight -= 1
            if not sending and not in_flight:
                done.set_result(None)

        def launch(k: int) -> None:  # a timer chain: no task, no sleep per request
            nonlocal in_flight, sending
            if k < len(schedule) and loop.time() < deadline:
                in_flight += 1
                _, kind, prefix, ready = schedule[k]
                self.start(kind, prefix, ready, answered)
                if k + 1 < len(schedule):
                    loop.call_at(start + schedule[k + 1][0], launch, k + 1)
                    return
            sending = False
            if not in_flight:
                done.set_result(None)

        launch(0)
        return done

    async def closed_loop(self, deadline: float) -> None:
        """Each sender sends its next export once the last is answered; one refused waits the
        collector's hint first, as an exporter does (8 senders of 512 spans hold more of a
        PostgreSQL store's work than admission's 1 s queue budget: refused at once, senders
        that did not wait spun, taking the cores the capacity is measured on)."""
        counter = iter(range(1, 10**9))

        async def sender() -> None:
            while time.monotonic() < deadline:
                outcome = await self.send("grpc", self.prefix(next(counter)), b"")
                if outcome.hint:
                    await asyncio.sleep(REFUSED_PAUSE)  # the hint's delay, not an event wait

        await asyncio.gather(*(sender() for _ in range(CLOSED_LOOP_SENDERS)))

    async def probe(self, deadline: float) -> None:
        """A light client beside the load: gRPC and HTTP in turn, one at a time, 20 ms apart.

        Its process sends nothing else, so its latencies hold no wait of the load generator's
        own event loop: against the other kinds' they show how much of those is the
        generator's, not the collector's.
        """
        n = 0
        while time.monotonic() < deadline:
            n += 1
            kind = ("grpc", "http")[n % 2]
            outcome = await self.send(kind, self.prefix(n), b"")
            outcome.kind = f"probe-{kind}"
            await asyncio.sleep(PROBE_PAUSE)  # a pacing interval, not a wait for an event

    def send(self, kind: str, prefix: bytes, ready: bytes) -> asyncio.Future[Outcome]:
        """:meth:`start` one request; its outcome (also kept in ``outcomes``)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def answered(outcome: Outcome) -> None:
            self.outcomes.append(outcome)
            future.set_result(outcome)

        self.start(kind, prefix, ready, answered)
        return future

    def start(
        self, kind: str, prefix: bytes, ready: bytes, done: Callable[[Outcome], None]
    ) -> None:
        """Send one request of ``kind`` (``ready``: its payload, if built before the phase);
        ``done`` gets its outcome."""
        payload = ready or prefix.join(self.pieces)
        if kind == "grpc":
            self.grpc(payload, prefix, done)
        elif kind == "slow":
            task = asyncio.ensure_future(self.slow(payload, prefix))
            task.add_done_callback(lambda finished: done(finished.result()))
        else:
            self.http(kind, payload, prefix, done)

    def grpc(self, payload: bytes, prefix: bytes, done: Callable[[Outcome], None]) -> None:
        slot = int.from_bytes(prefix[-2:], "big") % len(self.grpc_slots)
        if not self.grpc_slots[slot].usable:  # a GOAWAY (connection age) or a lost connection
            self.grpc_slots[slot] = self._grpc_connection()
        started = time.perf_counter()

        def answered(code: str, hint: bool) -> None:
            seconds = time.perf_counter() - started
            done(Outcome("grpc", code, seconds, hint, prefix if code == "OK" else None))

        self.grpc_slots[slot].call(payload, answered)

    def http(
        self, kind: str, payload: bytes, prefix: bytes, done: Callable[[Outcome], None]
    ) -> None:
        """A keep-alive HTTP/1.1 export: the whole body written, then the answer read."""
        if kind == "chunked":
            data = self.heads[kind].encode() + b"".join(_chunked(payload)) + b"0\r\n\r\n"
        else:
            data = (self.heads[kind] % len(payload)).encode() + payload
        connection = self._http_connection()
        started = time.perf_counter()

        def answered(code: str, hint: bool) -> None:
            seconds = time.perf_counter() - started
            if connection.reusable:
                self.idle.append(connection)
            else:
                connection.close()
            done(Outcome(kind, code, seconds, hint, prefix if code == "200" else None))

        connection.send(data, answered)

    def _http_connection(self) -> Http1Connection:
        """A kept-alive connection the collector has not closed meanwhile, or a new one."""
        while self.idle:
            connection = self.idle.pop()
            if connection.reusable:
                return connection
        connection = Http1Connection(TIMEOUT)
        self._connect(connection, self.host, self.port)
        return connection

    def _grpc_connection(self) -> GrpcConnection:
        host, _, port = self.plan.grpc_target.rpartition(":")
        metadata = {"x-glassline-api-key": self.plan.key}
        connection = GrpcConnection(self.plan.grpc_target, EXPORT, metadata, TIMEOUT)
        self._connect(connection, host, int(port))
        return connection

    def _connect(self, connection: Http1Connection | GrpcConnection, host: str, port: int) -> None:
        """Connect in the background; the connection takes requests meanwhile."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(
            asyncio.wait_for(loop.create_connection(lambda: connection, host, port), TIMEOUT)
        )

        def connected(task: asyncio.Future[Any]) -> None:
            error = task.exception()
            if error is not None:
                connection.failed(error)

        task.add_done_callback(connected)

    async def _connect_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection(self.host, self.port), TIMEOUT)

    async def slow(self, payload: bytes, prefix: bytes) -> Outcome:
        """A client whose body trickles in: 8 chunks, 0.2 s apart (1.6 s of upload by design).

        An OTLP exporter reads no answer before its whole body is sent, so it would time a
        refusal sent after the headers as 1.6 s. This client watches for the answer while it
        uploads, so the time is what the collector controls: an answer that came mid-upload
        is timed from the request's start; one after the whole body from its last byte (the
        collector could not decide before it), accepted or refused alike.
        """
        started = sent_all = time.perf_counter()
        writer = None
        try:
            reader, writer = await self._connect_stream()
            writer.write(self.heads["slow"].encode())
            answer = asyncio.ensure_future(_read_answer(reader))
            for chunk in _chunked(payload):
                await asyncio.wait({answer}, timeout=SLOW_PAUSE)
                if answer.done():  # the answer came mid-upload
                    break
                writer.write(chunk)
            else:
                writer.write(b"0\r\n\r\n")
                sent_all = time.perf_counter()
            code, hint = await asyncio.wait_for(answer, TIMEOUT)
            at = time.perf_counter()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            return Outcome("slow", type(exc).__name__, time.perf_counter() - started, False, None)
        finally:
            if writer is not None:
                writer.close()
        return Outcome("slow", code, at - sent_all, hint, prefix if code == "200" else None)
