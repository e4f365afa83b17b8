"""Where an admitted export runs: here (one process), or on the least busy runner process.

With ``server.workers: N > 1`` the collector is one *front* process and N *runners*. The
front holds every client connection: receivers, admission, the query API. It does no export
work itself: each admitted export goes, as its raw bytes, to the runner with the fewest
exports assigned, which decodes, processes and stores it and replies with the export's reply
or error. Two problems, one design:

- **Work spreads however few connections the clients hold.** With workers sharing the ports
  through ``SO_REUSEPORT``, the kernel placed each client *connection* on one worker for good;
  an OTLP exporter holds one or two, so one worker stored everything while the other cores
  idled (3,721 spans/s with one core idle, against 8,650 when two senders happened to land
  on different workers). Here the unit of placement is the export, not the connection: the
  distributor / ingester split of Tempo and Cortex, within one host.
- **Refusals never wait for the GIL.** Decoding, redaction and storing are CPU work under the
  GIL; in the receivers' process they delayed every answer of the event loops, refusals too
  (p99 3.0 s measured). The front's loops only read, admit, forward and answer.

Acknowledged still means durable: a runner replies after its commit, and the front answers
success only on that reply. A runner that dies fails the exports it held as retryable (the
client sends them again; the store drops the duplicates of what it had committed).

A runner that stops answering without dying (SIGSTOP, a host that swaps it out) must not hold
its exports until the clients give up, as it did: exports handed to a SIGSTOPped runner were
answered at the exporter's 10 s timeout, and more kept going to it. A runner says when a
thread takes an export to run it; one not taken by its queue-wait deadline is refused
there by the runner itself, so if neither word has come a moment after the deadline
(:data:`._channel.SILENT_AFTER_S`) the front refuses it (retryable, with the hint) and routes no more
exports to that runner until it is heard from again. An export the runner took is waited
for: it may be committing, and a refusal would have the client send work already done. The
runner, once it resumes, refuses what it finds past its deadline unrun; an export it took in
the instant before and committed is answered refused all the same, and its resend is
dropped as a duplicate (acknowledged data is never lost: only work is repeated).

The body crosses once, unparsed, over one Unix socket pair per runner, made by the supervisor
before it forks. A runner takes exports once it can store them (its flag in a shared array)
and stops being chosen when it shuts down; it serves what the front already sent until the
front closes the channel.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import multiprocessing
import socket
import threading
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from google.protobuf.message import Message

from glassline.collector._aio import run_on_loop, the_loop
from glassline.collector._channel import Channel, receive_job, reply, say_taken
from glassline.collector._export_pool import ExportPool
from glassline.collector.admission import refusal
from glassline.collector.auth import Principal
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.storage import room
from glassline.collector.threads import NamedThread

__all__ = ["Exporter", "Exports", "Front", "Kind", "LocalExports", "Mesh", "Runner"]

Kind = Literal["traces", "logs"]
KINDS: frozenset[Kind] = frozenset(("traces", "logs"))


class Exporter(Protocol):
    """What runs one export: an ``Ingest`` or ``LogsIngest`` (decode, hand to the pipeline)."""

    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any: ...
    def reply(self, result: Any) -> Message: ...


class Exports(Protocol):
    """What the receivers hand an admitted export to."""

    kinds: frozenset[Kind]

    async def run(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None = None,
    ) -> Message:  # fmt: skip
        """The export's reply once stored; raises what the export raised (GlasslineError).

        An export not started by ``deadline`` (``time.monotonic``) is refused unrun
        (RetryableError, overloaded): see :mod:`.admission`.
        """
        ...

    def close(self, grace_s: float) -> None: ...


class LocalExports:
    """One process does it all: exports run on ``threads`` threads here."""

    def __init__(
        self, exporters: Mapping[Kind, Exporter], threads: int, metrics: Metrics, *,
        retry_after_s: float = 1.0,
    ) -> None:  # fmt: skip
        self.kinds = frozenset(exporters)
        self._pool = ExportPool(exporters, threads, metrics, 0, retry_after_s)

    async def run(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None = None,
    ) -> Message:  # fmt: skip
        future = self._pool.submit(kind, transport, principal, body, encoding, deadline)
        return await asyncio.wrap_future(future)

    def close(self, grace_s: float) -> None:
        self._pool.shutdown()


class Mesh:
    """The front's channel to each runner and the runners' open flags; made before forking."""

    def __init__(self, runners: int) -> None:
        self.runners = runners
        fork = multiprocessing.get_context("fork")
        self.open: Any = fork.Array(ctypes.c_int, runners)
        # The runners' writes say whether the store has disk room; the front's readiness
        # reads it (storage.room).
        self.room: Any = fork.Value(ctypes.c_double, room.new_cell().value, lock=False)
        # One pair per runner: end 0 is the front's (exports out, replies in), end 1 the runner's.
        self._pairs = [
            socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(runners)
        ]

    def front(self) -> dict[int, socket.socket]:
        """In the front, right after the fork: its end of every channel (closes the rest)."""
        for _, theirs in self._pairs:
            theirs.close()
        return {j: ours for j, (ours, _) in enumerate(self._pairs)}

    def runner(self, index: int) -> socket.socket:
        """In runner ``index``, right after the fork: its end of its channel (closes the rest),
        so that the front's death reads as end-of-file here and a runner's death there."""
        mine = self._pairs[index][1]
        for sock in (s for pair in self._pairs for s in pair):
            if sock is not mine:
                sock.close()
        return mine

    def close(self) -> None:
        """In the supervisor once every process is forked: the sockets are theirs now."""
        for pair in self._pairs:
            for sock in pair:
                sock.close()


class Front:
    """Hands each export to the open runner with the fewest assigned (see the module doc).

    The channels live on the gRPC loop (:mod:`glassline.collector._aio`): a gRPC export is
    handed over and its reply awaited on the loop that serves it, with no thread in between
    (a sender and a reply-reader thread per channel cost the front 0.14 ms of CPU per export,
    in wake-ups and GIL hand-offs). An export from another loop (the HTTP server's) crosses
    to it and back.
    """

    def __init__(
        self, mesh: Mesh, kinds: frozenset[Kind] = KINDS, *, metrics: Metrics | None = None,
        retry_after_s: float = 1.0,
    ) -> None:  # fmt: skip
        self.kinds = kinds
        self._open = mesh.open
        self._loop = the_loop()
        metrics = Metrics() if metrics is None else metrics

        def late() -> RetryableError:
            return refusal("queue_wait_expired", metrics, retry_after_s)

        ends = mesh.front()
        self._channels = {
            j: run_on_loop(Channel.connect(sock, j, late)) for j, sock in ends.items()
        }
        self._assigned = dict.fromkeys(self._channels, 0)  # touched on the loop only

    def can_store(self) -> bool:
        """At least one runner can take an export now."""
        return any(self._open[j] and ch.answering for j, ch in self._channels.items())

    async def run(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None = None,
    ) -> Message:  # fmt: skip
        handover = self._handover(kind, transport, principal, body, encoding, deadline)
        if asyncio.get_running_loop() is self._loop:
            return await handover
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(handover, self._loop))

    def close(self, grace_s: float) -> None:
        """No more exports (the receivers drained): the runners read end-of-file once what
        was sent is flushed."""
        for channel in self._channels.values():
            self._loop.call_soon_threadsafe(channel.finish)

    async def _handover(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str,
        deadline: float | None,
    ) -> Message:  # fmt: skip
        target = self._assign()
        try:
            meta = (kind, transport, principal, encoding, deadline)
            return await self._channels[target].send(meta, body)
        finally:
            self._assigned[target] -= 1

    def _assign(self) -> int:
        candidates = [j for j, ch in self._channels.items() if self._open[j] and ch.answering]
        if not candidates:
            raise RetryableError("no worker can store right now; retry later")
        target = min(candidates, key=self._assigned.__getitem__)
        self._assigned[target] += 1
        return target


class Runner:
    """A runner's side of its channel: runs what the front sends, replies when stored."""

    def __init__(
        self, exporters: Mapping[Kind, Exporter], threads: int, metrics: Metrics, *,
        index: int, mesh: Mesh, retry_after_s: float = 1.0,
    ) -> None:  # fmt: skip
        self._pool = ExportPool(exporters, threads, metrics, index, retry_after_s)
        self._index = index
        self._open = mesh.open
        self._sock = mesh.runner(index)
        self._reader = NamedThread(target=self._serve, name="handoff-in", daemon=True)

    def open(self) -> None:
        """Take exports from now on."""
        self._reader.start()
        self._open[self._index] = 1

    def close(self, grace_s: float) -> None:
        """Stop being chosen; run what the front already sent until it closes the channel
        (up to ``grace_s``), then stop the threads."""
        self._open[self._index] = 0
        self._reader.join(grace_s)
        self._pool.shutdown()
        self._sock.close()

    def _serve(self) -> None:
        send_lock = threading.Lock()
        while True:
            try:
                job_id, job, body = receive_job(self._sock)
            except (EOFError, OSError):
                return  # the front finished (or died): nothing more will come
            kind, transport, principal, encoding, deadline = job
            # Word that it started, so the front tells a busy runner from a silent one.
            taken = None if deadline is None else functools.partial(
                say_taken, self._sock, send_lock, job_id
            )  # fmt: skip
            future = self._pool.submit(
                kind, transport, principal, body, encoding, deadline, on_taken=taken
            )
            future.add_done_callback(
                lambda f, job_id=job_id: reply(self._sock, send_lock, job_id, f)  # type: ignore[misc]
            )
            del body, future  # not kept while the next export is awaited
