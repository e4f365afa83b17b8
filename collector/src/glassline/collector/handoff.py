"""Hand-off: the exports any worker receives run on whichever worker has the fewest.

Workers share the ports through ``SO_REUSEPORT``, and the kernel places each client
*connection* on one worker for good. An OTLP exporter holds one or two keep-alive connections,
so, left there, one worker decodes and stores everything while the other cores idle (measured:
3,721 spans/s stored with one core idle, against 8,650 when two senders happened to land on
different workers). Tempo's and Cortex's distributors solve the same problem between machines:
the process that holds the connection is not the one that does the work. Here, within a host:

- the receiving worker keeps the request: its admission ticket, its wait and its answer;
- it assigns the export to the worker with the fewest exports assigned (itself on a tie:
  no copy), counted in one array the workers share;
- the assigned worker decodes, processes and stores it, then replies with the export's reply
  or its error. The reply comes after the commit, so an acknowledgement still means durable;
  a worker that dies fails the exports it held as retryable (the client sends them again and
  the store drops the duplicates of what it had committed).

The request body crosses once, unparsed, over one Unix socket pair per ordered pair of
workers, made by the supervisor before it forks. A worker's slot in the shared array is out of
reach (``_CLOSED``) until it can run exports and again from the start of its shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import pickle
import queue
import socket
import struct
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol

from google.protobuf.message import Message

from glassline.collector.auth import Principal
from glassline.collector.errors import GlasslineError, RetryableError
from glassline.collector.metrics import Metrics

__all__ = ["Exporter", "Handoff", "Kind", "Mesh"]

_log = logging.getLogger(__name__)
Kind = Literal["traces", "logs"]
_CLOSED = 1 << 24  # a slot at or above this takes no new exports
_JOB = struct.Struct("!II")  # metadata length, body length
_REPLY = struct.Struct("!I")


class Exporter(Protocol):
    """What runs one export: an ``Ingest`` or ``LogsIngest`` (decode, hand to the pipeline)."""

    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any: ...
    def reply(self, result: Any) -> Message: ...


class Mesh:
    """The workers' channels and shared counts, made by the supervisor before it forks."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.loads: Any = multiprocessing.get_context("fork").Array(
            ctypes.c_int, [_CLOSED] * workers
        )
        # (i, j): end 0 is worker i's (sends exports, reads replies), end 1 is worker j's.
        self._pairs = {
            (i, j): socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            for i in range(workers)
            for j in range(workers)
            if i != j
        }

    def take(self, index: int) -> tuple[dict[int, socket.socket], dict[int, socket.socket]]:
        """In worker ``index``, right after the fork: its (outgoing, incoming) sockets by peer.

        Closes every other end it inherited, so a peer's death reads as end-of-file here.
        """
        outgoing, incoming = {}, {}
        for (i, j), (a, b) in self._pairs.items():
            if i == index:
                outgoing[j] = a
                b.close()
            elif j == index:
                incoming[i] = b
                a.close()
            else:
                a.close()
                b.close()
        return outgoing, incoming

    def close(self) -> None:
        """In the supervisor once every worker is forked: the sockets are theirs now."""
        for a, b in self._pairs.values():
            a.close()
            b.close()


class Handoff:
    """Runs exports on this worker's threads or a peer's (see the module docstring).

    Without a mesh (one worker, tests) every export runs here, on ``threads`` threads.
    """

    def __init__(
        self,
        exporters: Mapping[Kind, Exporter],
        threads: int,
        metrics: Metrics,
        *,
        index: int = 0,
        mesh: Mesh | None = None,
    ) -> None:
        self.kinds = frozenset(exporters)
        self._exporters = dict(exporters)
        self._metrics = metrics
        self._index = index
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="export")
        self._loads = mesh.loads if mesh is not None else None
        outgoing, incoming = mesh.take(index) if mesh is not None else ({}, {})
        self._peers = {j: _Peer(j, sock) for j, sock in outgoing.items()}
        self._incoming = [
            threading.Thread(target=self._serve, args=(sock,), name=f"handoff-in-{i}", daemon=True)
            for i, sock in incoming.items()
        ]
        self._incoming_sockets = list(incoming.values())
        self._open = False

    def open(self) -> None:
        """Take exports from peers, and let them assign to this worker."""
        for thread in self._incoming:
            thread.start()
        self._add_to_own_slot(-_CLOSED)
        self._open = True

    async def run(
        self, kind: Kind, transport: str, principal: Principal, body: bytes, encoding: str
    ) -> Message:
        """The export's reply once stored; raises what the export raised (GlasslineError)."""
        target = self._assign()
        try:
            if target == self._index:
                future = self._pool.submit(
                    self._run_here, "own", kind, transport, principal, body, encoding
                )
            else:
                future = self._peers[target].send((kind, transport, principal, encoding), body)
            return await asyncio.wrap_future(future)  # type: ignore[no-any-return]
        finally:
            self._release(target)

    def close(self, grace_s: float) -> None:
        """After this worker's receivers drained: stop sending, run what peers still send
        until they finish (up to ``grace_s``), then stop the threads."""
        if self._open:
            self._add_to_own_slot(_CLOSED)
        for peer in self._peers.values():
            peer.finish()
        deadline = time.monotonic() + grace_s
        for thread in self._incoming:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=True, cancel_futures=False)
        for sock in self._incoming_sockets:
            sock.close()

    def _assign(self) -> int:
        loads = self._loads
        if loads is None:
            return self._index
        with loads.get_lock():
            best, least = self._index, loads[self._index]
            for j, peer in self._peers.items():
                if peer.alive and loads[j] < min(least, _CLOSED):
                    best, least = j, loads[j]
            loads[best] += 1
        return best

    def _release(self, target: int) -> None:
        if self._loads is not None:
            with self._loads.get_lock():
                self._loads[target] -= 1

    def _add_to_own_slot(self, n: int) -> None:
        if self._loads is not None:
            with self._loads.get_lock():
                self._loads[self._index] += n

    def _run_here(
        self, origin: str, kind: Kind, transport: str, principal: Principal, body: bytes,
        encoding: str,
    ) -> Message:  # fmt: skip
        self._metrics.exports_run.labels(str(self._index), origin).inc()
        exporter = self._exporters[kind]
        return exporter.reply(exporter.export(transport, principal, body, encoding))

    def _serve(self, sock: socket.socket) -> None:
        """One peer's exports: read each, run it on the pool, reply when it is done."""
        send_lock = threading.Lock()
        while True:
            try:
                meta_len, body_len = _JOB.unpack(_recv_exact(sock, _JOB.size))
                job_id, kind, transport, principal, encoding = pickle.loads(
                    _recv_exact(sock, meta_len)
                )
                body = _recv_exact(sock, body_len)
            except (EOFError, OSError):
                return  # the peer finished (or died): nothing more will come
            future = self._pool.submit(
                self._run_here, "peer", kind, transport, principal, body, encoding
            )
            future.add_done_callback(
                lambda f, job_id=job_id: _reply(sock, send_lock, job_id, f)  # type: ignore[misc]
            )


class _Peer:
    """This worker's channel to one peer: exports out (a sender thread), replies in."""

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.alive = True
        self._sock = sock
        self._lock = threading.Lock()
        self._pending: dict[int, Future[Message]] = {}
        self._ids = itertools.count()
        self._outbox: queue.SimpleQueue[tuple[bytes, bytes] | None] = queue.SimpleQueue()
        for target, role in ((self._send_loop, "out"), (self._read_replies, "replies")):
            name = f"handoff-{role}-{index}"
            threading.Thread(target=target, name=name, daemon=True).start()

    def send(self, meta: tuple[Any, ...], body: bytes) -> Future[Message]:
        """Queue one export for the peer (never blocks the caller's event loop)."""
        future: Future[Message] = Future()
        job_id = next(self._ids)
        with self._lock:
            if not self.alive:
                future.set_exception(_peer_gone())
                return future
            self._pending[job_id] = future
        self._outbox.put((pickle.dumps((job_id, *meta)), body))
        return future

    def finish(self) -> None:
        """No more exports to send: the peer reads end-of-file once the queue is flushed."""
        self._outbox.put(None)

    def _send_loop(self) -> None:
        while (job := self._outbox.get()) is not None:
            meta, body = job
            try:
                _send_all(self._sock, [_JOB.pack(len(meta), len(body)), meta, body])
            except OSError:
                self._fail_all()
                return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def _read_replies(self) -> None:
        while True:
            try:
                (size,) = _REPLY.unpack(_recv_exact(self._sock, _REPLY.size))
                job_id, ok, value = pickle.loads(_recv_exact(self._sock, size))
            except (EOFError, OSError):
                self._fail_all()
                return
            with self._lock:
                future = self._pending.pop(job_id, None)
            if future is None or future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _fail_all(self) -> None:
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_peer_gone())


def _reply(sock: socket.socket, lock: threading.Lock, job_id: int, future: Future[Any]) -> None:
    error = future.exception()
    if error is None:
        payload = (job_id, True, future.result())
    elif isinstance(error, GlasslineError):
        payload = (job_id, False, error)
    else:  # a bug: logged here, answered retryable so the client keeps the data
        _log.error("handed-over export failed: %s", type(error).__name__, exc_info=error)
        payload = (job_id, False, RetryableError("internal error; retry later"))
    data = pickle.dumps(payload)
    with lock, contextlib.suppress(OSError):  # the peer is gone: nobody waits for this
        _send_all(sock, [_REPLY.pack(len(data)), data])


def _peer_gone() -> RetryableError:
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
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        read = sock.recv_into(view[got:])
        if read == 0:
            raise EOFError
        got += read
    return bytes(buf)
