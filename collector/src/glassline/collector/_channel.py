"""The wire between the front and one runner (:mod:`.handoff`): one Unix socket pair.

The front sends each export as a length-prefixed pickled head (its job id and metadata)
and its body, uncopied; the runner answers with length-prefixed pickled replies: that a
thread took a job (``_TAKEN``), then its result or its error. :class:`Channel` is the
front's end, on the gRPC loop; the functions below it are the runner's (blocking sockets).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import pickle
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from google.protobuf.message import Message

from glassline.collector.errors import GlasslineError, RetryableError

__all__ = ["SILENT_AFTER_S", "Channel", "receive_job", "reply", "say_taken"]

_log = logging.getLogger(__name__)
_JOB = struct.Struct("!II")  # metadata length, body length
_REPLY = struct.Struct("!I")
_PIECE = 256 * 1024  # bytes of a body given to the channel's transport at a time
# How long past an export's deadline the runner's own refusal (or word that it took the export)
# may take to arrive before the runner is taken for silent. Its expiry thread answers at the
# deadline; a runner starved of the GIL or of a core answers tens of milliseconds late.
SILENT_AFTER_S = 0.5
_TAKEN = None  # a reply's "ok" field when it only says that a thread took the export


class Channel(asyncio.Protocol):
    """The front's end of one runner's channel, on the gRPC loop: exports out through the
    loop's transport (buffered while the runner is slow to read), replies in."""

    def __init__(self, index: int, late: Callable[[], RetryableError]) -> None:
        self.alive = True
        self.silent = False  # an export went unanswered past its deadline (see .handoff)
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
    ) -> Channel:
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
            when = max(deadline, loop.time()) + SILENT_AFTER_S
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


def reply(sock: socket.socket, lock: threading.Lock, job_id: int, future: Future[Any]) -> None:
    error = future.exception()
    if error is None:
        payload = (job_id, True, future.result())
    elif isinstance(error, GlasslineError):
        payload = (job_id, False, error)
    else:  # a bug: logged here, answered retryable so the client keeps the data
        _log.error("export failed in a runner: %s", type(error).__name__, exc_info=error)
        payload = (job_id, False, RetryableError("internal error; retry later"))
    _send_reply(sock, lock, payload)


def say_taken(sock: socket.socket, lock: threading.Lock, job_id: int) -> None:
    _send_reply(sock, lock, (job_id, _TAKEN, None))


def _send_reply(sock: socket.socket, lock: threading.Lock, payload: tuple[Any, ...]) -> None:
    data = pickle.dumps(payload)
    with lock, contextlib.suppress(OSError):  # the front is gone: nobody waits for this
        _send_all(sock, [_REPLY.pack(len(data)), data])


def _runner_gone() -> RetryableError:
    return RetryableError("the worker storing this export stopped; the data was not accepted, "
                          "retry later")  # fmt: skip


def receive_job(sock: socket.socket) -> tuple[int, tuple[Any, ...], bytes]:
    """The next export the front sent: its job id, metadata and body; EOFError once the
    front closed its end."""
    meta_len, body_len = _JOB.unpack(_recv_exact(sock, _JOB.size))
    job_id, *job = pickle.loads(_recv_exact(sock, meta_len))
    return job_id, tuple(job), _recv_exact(sock, body_len)


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
