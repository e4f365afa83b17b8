"""HTTP connections that must keep moving: uvicorn's h11 protocol with read deadlines.

uvicorn closes a keep-alive connection that idles between requests, but not one that never
sends a request, trickles its headers (slowloris) or stalls mid-body: each would hold a
socket and, mid-body, an admission ticket forever. Here a connection gets
``header_timeout_s`` for each request's headers (from the connection's start or the previous
answer) and ``body_timeout_s`` for its body; past a deadline it is closed. A request already
handed to the app is not timed: admission bounds that.

Each answer also leaves in one write: uvicorn writes the status line and headers, then the
body, as separate ``transport.write`` calls (two syscalls and two TCP segments, the larger
part of a refusal's cost under overload); writes made in one turn of the event loop are
joined and sent at the end of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["timed_protocol"]

_log = logging.getLogger(__name__)


class _TimedH11(H11Protocol):
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._timing_body = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _Coalescing(transport, self.loop)  # type: ignore[assignment]
        self._arm(self.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        state = self.conn.their_state
        if state is h11.SEND_BODY and not self._timing_body:
            self._arm(self.body_timeout_s, "body")
            self._timing_body = True
        elif state is not h11.IDLE and state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in: the app's turn

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm(self.header_timeout_s, "headers")

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timing_body = False
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

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


def timed_protocol(*, header_timeout_s: float, body_timeout_s: float) -> type[asyncio.Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` with these deadlines."""
    return type(
        "TimedH11Protocol",
        (_TimedH11,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
