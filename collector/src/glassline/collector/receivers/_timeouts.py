"""HTTP connections that must keep moving: uvicorn's httptools protocol with read deadlines.

The protocol is uvicorn's on ``httptools`` (the llhttp parser, in C): under overload nine
requests in ten are refused, and with uvicorn's pure-Python h11 protocol parsing and copying
each refused request's body cost as much CPU as the rest of the refusal.

uvicorn closes a keep-alive connection that idles between requests, but not one that never
sends a request, trickles its headers (slowloris) or stalls mid-body: each would hold a
socket and, mid-body, an admission ticket forever. Here a connection gets
``header_timeout_s`` for each request's headers (from the connection's start or the previous
answer) and ``body_timeout_s`` for its body; past a deadline it is closed. The body must also
keep coming: at least ``body_min_rate`` bytes a second over each ``rate_window_s`` (a rate
limit, as Apache's mod_reqtimeout MinRate; nginx's client_body_timeout is the same with one
byte a window), so a stalled or trickling upload gives its receiving place and bytes back
within a window, not at the body deadline. The check rides on the body deadline's own timer:
a body that arrives within a window costs nothing more. A window in which reading was paused
by the server is not held against the client. A request already handed to the app is not
timed: admission bounds that. A request's head (request line and
headers, and a chunked body's trailers) is limited to ``_MAX_HEAD`` bytes, as h11 limited it:
llhttp sets no limit. It is counted as the parser reports it too, not only by the reads it
spans: a head that arrives within one read (up to 256 KB) used to be parsed whole, thousands
of headers each through a Python callback, and served.

A client may half-close its side once its request is sent (``shutdown(SHUT_WR)``, as
``nc -N`` or a hand-written client does). asyncio then closes the connection, and uvicorn
drops the answer; the export was stored all the same, so the client, told nothing, sends it
again. Here the requests received whole are answered first, the last one with
``Connection: close``; only a request cut off mid-way is dropped, as before.

Each answer also leaves in one write: uvicorn writes the status line and headers, then the
body, as separate ``transport.write`` calls (two syscalls and two TCP segments, the larger
part of a refusal's cost under overload); writes made in one turn of the event loop are
joined and sent at the end of it.

An answer the app would give from a request's headers alone (an overload refusal: nine
requests in ten under overload) can be given by the protocol itself, ``answer_on_headers``:
it is written in the loop's turn that parsed the headers, and the request never becomes an
ASGI task (a task, the app's middleware, two ``send`` messages and two more turns of the
loop, one for the task and one for the joined write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Literal

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle

from glassline.collector.receivers._upgrade import DeclinesUpgrade

__all__ = ["timed_protocol"]

_log = logging.getLogger(__name__)
_MAX_HEAD = 16 * 1024  # h11's default max_incomplete_event_size, which the h11 front enforced

_Wait = Literal["headers", "body", None]  # what a connection's deadline waits for (None: none)
# A request's scope -> the answer (status, headers, body) to give without the app, or None.
AnswerOnHeaders = Callable[[Any], tuple[int, list[tuple[bytes, bytes]], bytes] | None]


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop the parse of a head past ``_MAX_HEAD``."""


class _TimedHttpTools(DeclinesUpgrade):
    header_timeout_s = 10.0
    body_timeout_s = 30.0
    body_min_rate = 0.0  # bytes/s over each rate window; 0: no rate limit
    rate_window_s = 5.0
    answer_on_headers: AnswerOnHeaders | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: _Wait = None
        self._in_head = True  # the parser is past a request's end, before the next's headers
        self._in_body = False  # ... between a request's headers and its end
        self._head_bytes = 0  # bytes fed while in a head (counted a feed at a time)
        self._head_parsed = 0  # bytes of the current request's head the parser reported
        self._head_too_large = False
        self._reads = 0  # data_received calls so far
        self._unread_since = 0  # ... when the body the app has not taken began
        self._body_bytes = 0  # of the current request's body, so far

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _Coalescing(transport, self.loop)  # type: ignore[assignment]
        self._wait("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._wait(None)
        super().connection_lost(exc)

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio: bool | None
        """Keep the connection open to answer what arrived whole (True), or close it."""
        last = self.pipeline[0][0] if self.pipeline else self.cycle  # uvicorn appends left
        if self._in_body or last is None or last.response_complete:
            return False  # nothing whole waits for an answer
        last.keep_alive = False  # uvicorn closes the connection once it has answered it
        return True

    def data_received(self, data: bytes) -> None:
        self._reads += 1
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > _MAX_HEAD and not self.transport.is_closing():
            self.send_400_response("Request headers too large.")
            return
        self._retime()

    def on_message_begin(self) -> None:
        self._head_parsed = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # with ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > _MAX_HEAD:
            self._head_too_large = True
            raise _HeadTooLarge  # the parser stops; data_received answers 400

    def send_400_response(self, msg: str) -> None:
        super().send_400_response("Request headers too large." if self._head_too_large else msg)

    def on_headers_complete(self) -> None:
        self._in_head, self._in_body, self._head_bytes = False, True, 0
        self._body_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """uvicorn's on_body, but it pauses reading only when the app left the previous read's
        body unread, and a read's body is not copied into a buffer of its own.

        uvicorn pauses past 64 KB buffered, so a body larger than that (bench.overload's are
        120 KB) cost a pause and a resume (two epoll_ctl calls and asyncio's selector
        bookkeeping: 40% of the protocol's CPU per refusal). The export endpoint never leaves
        a read's bytes unread: its task runs before the next read from this socket and either
        answers (the rest of the body is then read and dropped: see below) or takes them
        (admission has reserved them). An app that does not read still meets the pause one
        read later: at most two reads (2 x 256 KB) buffered instead of 64 KB + one read.
        """
        self._body_bytes += len(body)
        cycle = self.cycle
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return  # answered already (a 429): read on, to keep the connection, but not kept
        if not cycle.body:  # kept as it came, not copied: receive() hands bytes(body) over
            cycle.body = body  # type: ignore[assignment]
            self._unread_since = self._reads
        else:
            cycle.body += body
            if self._unread_since != self._reads and len(cycle.body) > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        self._in_head, self._in_body = True, False
        super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        answer = None
        if self.answer_on_headers is not None and app is self.app:  # not uvicorn's own 503
            answer = self.answer_on_headers(cycle.scope)
        if answer is None:
            super()._start_asgi_task(cycle, app)
        else:
            self._answer(cycle, *answer)

    def _answer(
        self, cycle: RequestResponseCycle, status: int, headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:  # fmt: skip
        """Answer ``cycle`` now, as ``RequestResponseCycle.send`` would the app's start and
        body messages: the same bytes, written at once. The rest of the request's body is
        read past and dropped (:meth:`on_body`), as for any request answered early."""
        cycle.response_started = cycle.response_complete = True
        cycle.waiting_for_100_continue = False
        parts = [STATUS_LINE[status]]
        for name, value in (*cycle.default_headers, *headers):
            parts += (name, b": ", value, b"\r\n")
        if not cycle.keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        self.transport.write_now(b"".join(parts))  # type: ignore[attr-defined]
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._retime()

    def _retime(self) -> None:
        """Give the connection the deadline its state calls for, keeping a running one."""
        if self._in_body:
            self._wait("body")  # the client's turn, answered already or not
        elif self.cycle is None or self.cycle.response_complete:
            self._wait("headers")  # nothing in the app's hands: the next request's turn
        else:
            self._wait(None)  # the whole request is in: the app's turn

    def _wait(self, what: _Wait) -> None:
        if what == self._waiting_for:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = what
        if what is None or self.transport.is_closing():
            return
        if what == "headers":
            self._deadline = self.loop.call_later(self.header_timeout_s, self._expired, what)
        else:
            self._body_window(self.loop.time() + self.body_timeout_s, self._body_bytes)

    def _body_window(self, deadline: float, seen: int) -> None:
        """Time the body's next rate window, or its deadline if that comes first."""
        seconds = deadline - self.loop.time()
        if self.body_min_rate > 0 and self.rate_window_s < seconds:
            window = self.loop.call_later(self.rate_window_s, self._window_ended, deadline, seen)
            self._deadline = window
        else:
            self._deadline = self.loop.call_later(max(seconds, 0.0), self._expired, "body")

    def _window_ended(self, deadline: float, seen: int) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        arrived = self._body_bytes - seen
        if arrived < self.body_min_rate * self.rate_window_s and not self.flow.read_paused:
            _log.debug("closing an HTTP connection: its body came at %d bytes in %g s",
                       arrived, self.rate_window_s)  # fmt: skip
            self.transport.close()
            return
        self._body_window(deadline, self._body_bytes)

    def _expired(self, what: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            _log.debug("closing an HTTP connection: no complete request %s in time", what)
            self.transport.close()


class _Coalescing:
    """A transport whose writes within one event-loop turn go out as one write.

    Everything but writing and closing is the wrapped transport's own; closing sends what is
    pending first, as a transport's close does with its buffer.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush)

    def write_now(self, data: bytes) -> None:
        """Write ``data`` after what is pending, now: it is the turn's last write."""
        self._pending.append(data)
        self._flush()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def timed_protocol(
    *,
    header_timeout_s: float,
    body_timeout_s: float,
    body_min_rate: float = 0.0,
    rate_window_s: float = 5.0,
    answer_on_headers: AnswerOnHeaders | None = None,
) -> type[asyncio.Protocol]:
    """An httptools protocol class for ``uvicorn.Config(http=...)`` with these deadlines,
    this least body rate (bytes/s over each ``rate_window_s``; 0: none) and the answers
    ``answer_on_headers`` gives without the app (see the module doc)."""
    return type(
        "TimedHttpToolsProtocol",
        (_TimedHttpTools,),
        {
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
            "body_min_rate": body_min_rate,
            "rate_window_s": rate_window_s,
            "answer_on_headers": staticmethod(answer_on_headers) if answer_on_headers else None,
        },
    )
