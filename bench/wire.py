"""The load generator's clients: HTTP/1.1 and gRPC (HTTP/2) as asyncio Protocols.

The generator shares the collector's two cores, so what it spends per request is taken from
the collector. With ``grpc.aio`` and asyncio streams it spent 0.3-0.37 ms of CPU a request,
a third of a core at 10x the capacity: a task or two, a stream reader and grpc's threads per
request. Here a request is written whole and its answer comes to a callback as (code, hint).

The gRPC client speaks what a unary call to one server needs of HTTP/2 (RFC 9113): one
prebuilt header block (never indexed, so it is the same bytes every time), DATA within the
server's flow-control windows, its SETTINGS and PINGs acknowledged, and a GOAWAY taken as
"no new streams here". It sets its own receive windows to the maximum once, so that it never
has to update them. Answers are decoded with ``hpack``, the header decoder of ``h2``; a
header block that leaves hpack's table as it found it (grpc-core's refusals, after the first)
is decoded once and its headers reused while the table stays so (:class:`_Headers`): hpack
is pure Python, and decoding each refusal's trailers was a fifth of the generator's Python
under 10x.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple

__all__ = ["Answer", "GrpcConnection", "Http1Connection", "answer_hint"]

Answer = Callable[[str, bool], None]  # (code, refusal carried a retry hint)

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _WINDOW_UPDATE, _CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_INITIAL_WINDOW_SIZE, _MAX_FRAME_SIZE = 0x4, 0x5
_MAX_WINDOW = 2**31 - 1
_CANCEL = 0x8
_HINTS = ("google.rpc.retryinfo-bin", "grpc-status-details-bin")
_KEPT_BLOCKS = 64  # header blocks whose headers are kept (refusals repeat a handful)
_STATUS_NAMES = {
    "0": "OK", "1": "CANCELLED", "2": "UNKNOWN", "3": "INVALID_ARGUMENT",
    "4": "DEADLINE_EXCEEDED", "5": "NOT_FOUND", "6": "ALREADY_EXISTS", "7": "PERMISSION_DENIED",
    "8": "RESOURCE_EXHAUSTED", "9": "FAILED_PRECONDITION", "10": "ABORTED",
    "11": "OUT_OF_RANGE", "12": "UNIMPLEMENTED", "13": "INTERNAL", "14": "UNAVAILABLE",
    "15": "DATA_LOSS", "16": "UNAUTHENTICATED",
}  # fmt: skip


def _head(length: int, kind: int, flags: int, stream: int) -> bytes:
    return length.to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return _head(len(payload), kind, flags, stream) + payload


def answer_hint(head: bytes) -> tuple[str, bool, bool, int]:
    """(status code, Retry-After present, connection reusable, body length) of an HTTP/1.1
    answer's head (without its blank line)."""
    status, _, rest = head.partition(b"\r\n")
    parts = status.split(b" ")
    code = parts[1].decode() if len(parts) > 1 else "?"
    lower = b"\r\n" + rest.lower()
    length = 0
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : end if end >= 0 else None])
    return code, b"\r\nretry-after:" in lower, b"\r\nconnection: close" not in lower, length


class Http1Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time; usable before it is
    connected (the first request waits for the connection)."""

    def __init__(self, timeout_s: float) -> None:
        self.reusable = True
        self._timeout_s = timeout_s
        self._transport: asyncio.Transport | None = None
        self._unsent = b""
        self._received = bytearray()
        self._answer: Answer | None = None
        self._timer: asyncio.TimerHandle | None = None

    def send(self, request: bytes, answer: Answer) -> None:
        """Write ``request`` (head and body); ``answer`` gets its answer's code and hint."""
        self._answer = answer
        self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._expire)
        if self._transport is None:
            self._unsent = request
        else:
            self._transport.write(request)

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._unsent:
            transport.write(self._unsent)
            self._unsent = b""

    def data_received(self, data: bytes) -> None:
        received = self._received
        received += data
        end = received.find(b"\r\n\r\n")
        if end < 0:
            return
        code, hint, reusable, length = answer_hint(bytes(received[:end]))
        if len(received) < end + 4 + length:
            return
        del received[: end + 4 + length]
        self.reusable = reusable and not received
        self._finish(code, hint)

    def connection_lost(self, exc: Exception | None) -> None:
        self.failed(exc or ConnectionResetError())

    def failed(self, exc: BaseException) -> None:
        """The connection could not be made, or is gone."""
        self.reusable = False
        self._finish(type(exc).__name__, False)

    def _expire(self) -> None:
        self.close()
        self._finish("TimeoutError", False)

    def _finish(self, code: str, hint: bool) -> None:
        answer, self._answer = self._answer, None
        if answer is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        answer(code, hint)


class _Headers:
    """HPACK header blocks decoded in order; the headers of a block that left the dynamic
    table unchanged are kept, and the same block is not decoded again until the table
    changes (a block's meaning depends only on the table: RFC 7541, section 2.3)."""

    def __init__(self) -> None:
        self._decoder = Decoder()
        self._kept: dict[bytes, dict[str, str]] = {}

    def decode(self, block: bytes) -> dict[str, str]:
        headers = self._kept.get(block)
        if headers is not None:
            return headers
        table = self._decoder.header_table
        before = (table.maxsize, tuple(table.dynamic_entries))
        # hpack gives str.
        headers = cast(dict[str, str], dict(self._decoder.decode(block)))
        if (table.maxsize, tuple(table.dynamic_entries)) != before:
            self._kept.clear()  # decoded against the table as it was
        elif len(self._kept) < _KEPT_BLOCKS:
            self._kept[block] = headers
        return headers


class _Stream:
    __slots__ = ("answer", "id", "timer", "unsent", "window")

    def __init__(self, stream_id: int, unsent: memoryview, window: int, answer: Answer) -> None:
        self.id = stream_id
        self.unsent = unsent
        self.window = window
        self.answer = answer
        self.timer: asyncio.TimerHandle | None = None


class GrpcConnection(asyncio.Protocol):
    """Unary gRPC calls of one method on one HTTP/2 connection (see the module doc); usable
    before it is connected (calls wait for the connection)."""

    def __init__(
        self, authority: str, path: str, metadata: dict[str, str], timeout_s: float,
        *, hold_back: int = 0,
    ) -> None:  # fmt: skip
        """``hold_back``: each call keeps that many of its last bytes unsent and never ends (a
        client that stalls mid-message; 0: calls send everything)."""
        headers = {
            ":method": "POST", ":scheme": "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers",
            "grpc-timeout": f"{int(timeout_s)}S", **metadata,
        }  # fmt: skip
        self._block = Encoder().encode([NeverIndexedHeaderTuple(k, v) for k, v in headers.items()])
        self._timeout_s = timeout_s
        self._hold_back = hold_back
        self._headers = _Headers()
        self.usable = True  # false after a GOAWAY or once the connection is gone
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes | memoryview] = [
            _PREFACE,
            _frame(_SETTINGS, 0, 0, b"\x00\x02\x00\x00\x00\x00"  # no server push
                   + _INITIAL_WINDOW_SIZE.to_bytes(2, "big") + _MAX_WINDOW.to_bytes(4, "big")),
            _frame(_WINDOW_UPDATE, 0, 0, (_MAX_WINDOW - 65535).to_bytes(4, "big")),
        ]  # fmt: skip
        self._next_id = 1
        self._streams: dict[int, _Stream] = {}
        self._blocked: deque[_Stream] = deque()  # waiting for window, in call order
        self._window = 65535  # the connection's send window
        self._stream_window = 65535  # a new stream's, from the server's SETTINGS
        self._max_frame = 16384
        self._received = bytearray()
        self._header_block: tuple[int, int, bytearray] | None = None  # across CONTINUATIONs

    def all_sent(self) -> bool:
        """Every call not answered has sent all it will (all but its held-back bytes)."""
        return all(len(stream.unsent) <= self._hold_back for stream in self._streams.values())

    def call(self, message: bytes, answer: Answer) -> None:
        """Send one request message; ``answer`` gets the call's status name and hint."""
        stream = _Stream(
            self._next_id,
            memoryview(b"\x00" + len(message).to_bytes(4, "big") + message),
            self._stream_window,
            answer,
        )
        self._next_id += 2
        self._streams[stream.id] = stream
        stream.timer = asyncio.get_running_loop().call_later(
            self._timeout_s, self._finish, stream, "DEADLINE_EXCEEDED", False
        )
        self._out.append(_frame(_HEADERS, _END_HEADERS, stream.id, self._block))
        self._send_data(stream)
        self._flush()

    def close(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.failed(exc or ConnectionResetError())

    def failed(self, exc: BaseException) -> None:
        """The connection could not be made, or is gone: every call fails."""
        self.usable = False
        for stream in list(self._streams.values()):
            self._finish(stream, type(exc).__name__, False)

    def data_received(self, data: bytes) -> None:
        received = self._received
        received += data
        at = 0
        while len(received) - at >= 9:
            length = int.from_bytes(received[at : at + 3], "big")
            if len(received) - at - 9 < length:
                break
            kind, flags = received[at + 3], received[at + 4]
            stream_id = int.from_bytes(received[at + 5 : at + 9], "big") & _MAX_WINDOW
            payload = bytes(received[at + 9 : at + 9 + length])
            at += 9 + length
            self._frame_received(kind, flags, stream_id, payload)
        del received[:at]
        self._flush()

    def _frame_received(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if kind == _HEADERS:
            if flags & _PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & _PRIORITY:
                payload = payload[5:]
            self._header_block = (stream_id, flags, bytearray(payload))
            if flags & _END_HEADERS:
                self._headers_complete()
        elif kind == _CONTINUATION and self._header_block is not None:
            self._header_block[2].extend(payload)
            if flags & _END_HEADERS:
                self._headers_complete()
        elif kind == _DATA:
            stream = self._streams.get(stream_id)
            if stream is not None and flags & _END_STREAM:
                self._finish(stream, "no grpc-status", False)
        elif kind == _RST_STREAM:
            stream = self._streams.get(stream_id)
            if stream is not None:
                self._finish(stream, "RST_STREAM", False)
        elif kind == _SETTINGS and not flags & _ACK:
            self._settings(payload)
            self._out.append(_frame(_SETTINGS, _ACK, 0))
        elif kind == _PING and not flags & _ACK:
            self._out.append(_frame(_PING, _ACK, 0, payload))
        elif kind == _GOAWAY:
            self.usable = False
            last = int.from_bytes(payload[:4], "big") & _MAX_WINDOW
            for stream in [s for s in self._streams.values() if s.id > last]:
                self._finish(stream, "GOAWAY", False)
        elif kind == _WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & _MAX_WINDOW
            if stream_id == 0:
                self._window += increment
            elif (stream := self._streams.get(stream_id)) is not None:
                stream.window += increment
            self._unblock()

    def _headers_complete(self) -> None:
        assert self._header_block is not None
        stream_id, flags, block = self._header_block
        self._header_block = None
        # Every block is read, in order, to keep the decoder's table.
        headers = self._headers.decode(bytes(block))
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        status = headers.get(":status")
        if status is not None and status != "200":
            self._finish(stream, f"HTTP {status}", False)
        elif "grpc-status" in headers:
            code = _STATUS_NAMES.get(headers["grpc-status"], headers["grpc-status"])
            self._finish(stream, code, any(h in headers for h in _HINTS))
        elif flags & _END_STREAM:
            self._finish(stream, "no grpc-status", False)

    def _settings(self, payload: bytes) -> None:
        for at in range(0, len(payload) - 5, 6):
            key = int.from_bytes(payload[at : at + 2], "big")
            value = int.from_bytes(payload[at + 2 : at + 6], "big")
            if key == _INITIAL_WINDOW_SIZE:
                for stream in self._streams.values():
                    stream.window += value - self._stream_window
                self._stream_window = value
            elif key == _MAX_FRAME_SIZE:
                self._max_frame = value
        self._unblock()

    def _send_data(self, stream: _Stream) -> None:
        """Queue what the windows allow of the stream's message; the rest waits for them."""
        while len(stream.unsent) > self._hold_back:
            size = min(
                len(stream.unsent) - self._hold_back, self._window, stream.window, self._max_frame
            )
            if size <= 0:
                if stream not in self._blocked:
                    self._blocked.append(stream)
                return
            piece, stream.unsent = stream.unsent[:size], stream.unsent[size:]
            self._window -= size
            stream.window -= size
            flags = 0 if stream.unsent else _END_STREAM
            self._out += (_head(size, _DATA, flags, stream.id), piece)  # joined once, in _flush

    def _unblock(self) -> None:
        for _ in range(len(self._blocked)):
            stream = self._blocked.popleft()
            if stream.id in self._streams:
                self._send_data(stream)

    def _finish(self, stream: _Stream, code: str, hint: bool) -> None:
        if self._streams.pop(stream.id, None) is None:
            return
        if stream.timer is not None:
            stream.timer.cancel()
        if stream.unsent:  # answered before the whole message was sent: end our side too
            stream.unsent = memoryview(b"")
            self._out.append(_frame(_RST_STREAM, 0, stream.id, _CANCEL.to_bytes(4, "big")))
            self._flush()
        stream.answer(code, hint)

    def _flush(self) -> None:
        if self._transport is not None and self._out:
            self._transport.write(b"".join(self._out))
            self._out.clear()
