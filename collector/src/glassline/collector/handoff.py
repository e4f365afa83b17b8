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
(:data:`_SILENT_AFTER_S`) the front refuses it (retryable, with the hint) and routes no more
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
import collections
import contextlib
import ctypes
import functools
import itertools
import logging
import multiprocessing
import pickle
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Literal, Protocol

from google.protobuf.message import Message

from glassline.collector._aio import run_on_loop, the_loop
from glassline.collector._export_pool import ExportPool
from glassline.collector.admission import refusal
from glassline.collector.auth import Principal
from glassline.collector.errors import GlasslineError, RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.storage import room
from glassline.collector.threads import NamedThread

__all__ = ["Exporter", "Exports", "Front", "Kind", "LocalExports", "Mesh", "Runner"]

_log = logging.getLogger(__name__)
Kind = Literal["traces", "logs"]
KINDS: frozenset[Kind] = frozenset(("traces", "logs"))
_JOB = struct.Struct("!II")  # metadata length, body length
_REPLY = struct.Struct("!I")
_PIECE = 256 * 1024  # bytes of a body given to the channel's transport at a time
# How long past an export's deadline the runner's own refusal (or word that it took the export)
# may take to arrive before the runner is taken for silent. Its expiry thread answers at the
# deadline; a runner starved of the GIL or of a core answers tens of milliseconds late.
_SILENT_AFTER_S = 0.5
_TAKEN = None  # a reply's "ok" field when it only says that a thread took the export


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
            j: run_on_loop(_Channel.connect(sock, j, late)) for j, sock in ends.items()
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
                meta_len, body_len = _JOB.unpack(_recv_exact(self._sock, _JOB.size))
                job_id, *job = pickle.loads(_recv_exact(self._sock, meta_len))
                body = _recv_exact(self._sock, body_len)
            except (EOFError, OSError):
                return  # the front finished (or died): nothing more will come
            kind, transport, principal, encoding, deadline = job
            # Word that it started, so the front tells a busy runner from a silent one.
            taken = None if deadline is None else functools.partial(
                _say_taken, self._sock, send_lock, job_id
            )  # fmt: skip
            future = self._pool.submit(
                kind, transport, principal, body, encoding, deadline, on_taken=taken
            )
            future.add_done_callback(
                lambda f, job_id=job_id: _reply(self._sock, send_lock, job_id, f)  # type: ignore[misc]
            )
            del body, future  # not kept while the next export is awaited


class _Channel(asyncio.Protocol):
    """The front's end of one runner's channel, on the gRPC loop: exports out through the
    loop's transport (buffered while the runner is slow to read), replies in."""

    def __init__(self, index: int, late: Callable[[], RetryableError]) -> None:
        self.alive = True
        self.silent = False  # an export went unanswered past its deadline: see the module doc
        self._index = index
        self._late = late
        self._transport: asyncio.WriteTransport | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}  # of the exports not taken yet
        self._ids = itertools.count()
        self._replies = bytearray()  # received, not yet a whole reply
        # Not yet given to the transport, by job; only the latest job given a piece may be
        # partly given (:meth:`_write_some`).
        self._unsent: collections.deque[tuple[int, memoryview]] = collections.deque()
        self._writing: int | None = None
        self._paused = False  # the transport holds a piece or more: wait for it to drain
        self._finishing = False  # no more exports: end-of-file once the last is given

    @classmethod
    async def connect(
        cls, sock: socket.socket, index: int, late: Callable[[], RetryableError]
    ) -> _Channel:
        loop = asyncio.get_running_loop()
        _, channel = await loop.create_unix_connection(lambda: cls(index, late), sock=sock)
        return channel

    @property
    def answering(self) -> bool:
        """Exports may go to this runner: it is there and it answers."""
        return self.alive and not self.silent

    def send(self, meta: tuple[Any, ...], body: bytes) -> asyncio.Future[Message]:
        """Send one export to the runner now (what the socket does not take yet waits for it,
        uncopied: :meth:`_write_some`); its reply or error once the runner answers, or a
        refusal if the runner has said nothing of it a moment past its deadline."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        if not self.alive or self._transport is None:
            future.set_exception(_runner_gone())
            return future
        job_id = next(self._ids)
        self._pending[job_id] = future
        deadline = meta[-1]
        if deadline is not None:  # time.monotonic, as the loop's clock
            # A runner given an export already late needs a moment to refuse it too.
            when = max(deadline, loop.time()) + _SILENT_AFTER_S
            self._timers[job_id] = loop.call_at(when, self._unanswered, job_id)
        head = pickle.dumps((job_id, *meta))
        self._unsent.append((job_id, memoryview(_JOB.pack(len(head), len(body)) + head)))
        self._unsent.append((job_id, memoryview(body)))
        self._write_some()
        return future

    def _unanswered(self, job_id: int) -> None:
        """Past the export's deadline the runner has neither taken nor refused it: refused
        here, and no more exports go to the runner until it is heard from."""
        del self._timers[job_id]
        future = self._pending.pop(job_id, None)
        if job_id != self._writing:  # none of it given yet: never sent (nor held) at all
            self._unsent = collections.deque(e for e in self._unsent if e[0] != job_id)
        if not self.silent:
            self.silent = True
            _log.warning("worker %d has not answered an export past its deadline; exports go "
                         "to the other workers until it answers", self._index + 1)  # fmt: skip
        if future is not None and not future.done():
            future.set_exception(self._late())

    def _write_some(self) -> None:
        """Give the transport what it can send now, a piece at a time.

        asyncio (3.11) copies whatever the socket does not take at once into one growing
        buffer: a runner busy with a large export left the bodies sent after it copied there,
        uncounted by admission (47 MB in the front during a flood of 8 MB gRPC messages, on
        top of the 64 MB of bodies admission held). A body is sliced out of the export's own
        bytes as the socket drains instead, so at most one piece is ever copied.
        """
        transport = self._transport
        while self._unsent and not self._paused and transport is not None:
            job_id, view = self._unsent[0]
            piece, rest = view[:_PIECE], view[_PIECE:]
            if rest:
                self._unsent[0] = (job_id, rest)
            else:
                self._unsent.popleft()
            self._writing = job_id
            transport.write(piece)
        if self._finishing and not self._unsent and transport is not None:
            transport.write_eof()  # after the last pieces, which asyncio flushes first

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._write_some()

    def finish(self) -> None:
        """No more exports: the runner reads end-of-file once the buffer is flushed."""
        self._finishing = True
        self._write_some()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        # Paused as soon as anything is left unsent: the next piece waits for the socket.
        transport.set_write_buffer_limits(high=0)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self.silent:
            self.silent = False
            _log.info("worker %d answers again; exports go to it again", self._index + 1)
        replies = self._replies
        replies += data
        while len(replies) >= _REPLY.size:
            (size,) = _REPLY.unpack_from(replies)
            end = _REPLY.size + size
            if len(replies) < end:
                return
            job_id, ok, value = pickle.loads(replies[_REPLY.size : end])
            del replies[:end]
            timer = self._timers.pop(job_id, None)
            if timer is not None:
                timer.cancel()
            if ok is _TAKEN:
                continue  # its answer follows once stored, however long that takes
            future = self._pending.pop(job_id, None)
            if future is None or future.done():
                continue  # its caller went away (cancelled), or it was refused here
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def connection_lost(self, exc: Exception | None) -> None:
        """The runner closed its end or died: what it held fails as retryable."""
        self.alive = False
        self._unsent.clear()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_runner_gone())


def _reply(sock: socket.socket, lock: threading.Lock, job_id: int, future: Future[Any]) -> None:
    error = future.exception()
    if error is None:
        payload = (job_id, True, future.result())
    elif isinstance(error, GlasslineError):
        payload = (job_id, False, error)
    else:  # a bug: logged here, answered retryable so the client keeps the data
        _log.error("export failed in a runner: %s", type(error).__name__, exc_info=error)
        payload = (job_id, False, RetryableError("internal error; retry later"))
    _send_reply(sock, lock, payload)


def _say_taken(sock: socket.socket, lock: threading.Lock, job_id: int) -> None:
    _send_reply(sock, lock, (job_id, _TAKEN, None))


def _send_reply(sock: socket.socket, lock: threading.Lock, payload: tuple[Any, ...]) -> None:
    data = pickle.dumps(payload)
    with lock, contextlib.suppress(OSError):  # the front is gone: nobody waits for this
        _send_all(sock, [_REPLY.pack(len(data)), data])


def _runner_gone() -> RetryableError:
    return RetryableError("the worker storing this export stopped; the data was not accepted, "
                          "retry later")  # fmt: skip


def _send_all(sock: socket.socket, parts: list[bytes]) -> None:
    """``parts`` in order, without joining them (the body is not copied)."""
    views = [memoryview(p) for p in parts if p]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes from the (blocking) socket.

    Received straight into the bytes returned: into a bytearray and then copied out, each
    8 MB body was in a runner twice over while it came.
    """
    parts = []
    got = 0
    while got < n:
        part = sock.recv(n - got, socket.MSG_WAITALL)  # one call, unless a signal cuts it
        if not part:
            raise EOFError
        parts.append(part)
        got += len(part)
    return b"".join(parts)  # one part: that very bytes object, not a copy
