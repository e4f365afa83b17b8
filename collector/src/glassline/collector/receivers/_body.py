"""Reading an HTTP export body under admission: every byte is reserved before it is kept.

A chunked upload declares no length, so the body is read chunk by chunk and each chunk's
bytes are reserved on the request's :class:`~glassline.collector.admission.Ticket` first: the
upload is refused (429) the moment the in-flight byte bound would break, not after the whole
body sits in memory. Decompression reserves its output the same way.
"""

from __future__ import annotations

import zlib

from starlette.types import Receive

from glassline.collector.admission import Ticket
from glassline.collector.errors import PermanentError

__all__ = ["GZIP_MAGIC", "ClientGone", "gunzip", "inflate", "is_zlib", "read_body", "too_large"]

GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 256 * 1024  # decompressed bytes reserved per step
_FEED = 64 * 1024  # compressed bytes given to zlib at a time
_MAX_MEMBERS = 1000


class ClientGone(Exception):
    """The client closed the connection before its request body arrived: nobody to answer."""


def too_large(size: int, limit: int) -> PermanentError:
    return PermanentError(
        f"request body of {size} bytes exceeds the limit of {limit} bytes", http_status=413
    )


async def read_body(receive: Receive, ticket: Ticket, *, limit: int, coding: str) -> bytes:
    """The body of the ASGI request ``receive`` reads, decompressed as ``coding`` says
    (``gzip``, ``deflate`` or ``""``); raises PermanentError, RetryableError, ClientGone."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            size += len(chunk)
            if size > limit:
                raise too_large(size, limit)
            ticket.reserve(size)
            chunks.append(chunk)
    body = b"".join(chunks)
    del chunks
    if coding == "gzip":
        return gunzip(body, ticket, limit=limit)
    if coding == "deflate":
        return inflate(body, ticket, limit=limit)
    return body


def gunzip(body: bytes, ticket: Ticket, *, limit: int) -> bytes:
    """Decompress every gzip member, at most ``limit`` bytes; anything after them is refused.

    The input is fed a slice at a time: zlib copies what it has not used (``unused_data``,
    ``unconsumed_tail``) out of the input it was given, and given the whole body, 7 MB of empty
    members, back to back, took the front's event loop minutes of copying (quadratic), with
    every connection of the collector waiting. Members are capped at ``_MAX_MEMBERS`` too:
    exporters send one, and each costs a decompressor.
    """
    out: list[bytes] = []
    view = memoryview(body)
    pos, size, members = 0, 0, 0
    while True:
        members += 1
        if members > _MAX_MEMBERS:
            raise PermanentError(f"body has more than {_MAX_MEMBERS} gzip members")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pos, size = _inflate(
            inflater, view, pos, size, out, ticket=ticket, limit=limit, coding="gzip"
        )
        if pos >= len(view):
            return b"".join(out)
        if view[pos : pos + 2] != GZIP_MAGIC:  # RFC 1952 allows members back to back, only
            raise PermanentError(
                f"body has {len(view) - pos} bytes of trailing data after the gzip"
            )


def inflate(body: bytes, ticket: Ticket, *, limit: int) -> bytes:
    """HTTP's ``deflate`` (RFC 9110: a zlib stream, RFC 1950, as the OpenTelemetry Python
    exporter's ``Compression.Deflate`` sends it), or raw deflate, which some clients send under
    that name; at most ``limit`` bytes, and nothing may follow the stream."""
    view = memoryview(body)
    wbits = zlib.MAX_WBITS if is_zlib(body) else -zlib.MAX_WBITS
    out: list[bytes] = []
    inflater = zlib.decompressobj(wbits)
    pos, _ = _inflate(inflater, view, 0, 0, out, ticket=ticket, limit=limit, coding="deflate")
    if pos < len(view):
        raise PermanentError(f"body has {len(view) - pos} bytes of trailing data after the deflate")
    return b"".join(out)


def is_zlib(body: bytes) -> bool:
    """``body`` begins with a zlib header (RFC 1950: deflate, and a check of its two bytes)."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and int.from_bytes(body[:2]) % 31 == 0


def _inflate(
    inflater: zlib._Decompress,
    view: memoryview,
    pos: int,
    size: int,
    out: list[bytes],
    *,
    ticket: Ticket,
    limit: int,
    coding: str,
) -> tuple[int, int]:
    """Run ``inflater`` over ``view`` from ``pos`` to its stream's end, appending to ``out``,
    which holds ``size`` bytes already (every byte reserved on ``ticket`` first, at most
    ``limit`` in all); returns the position after the stream and the size of ``out``."""
    pending: bytes | memoryview = b""  # input fed and not yet taken by the inflater
    while not inflater.eof:
        if not pending and pos < len(view):
            pending, pos = view[pos : pos + _FEED], pos + _FEED
        try:
            piece = inflater.decompress(pending, _INFLATE_STEP)
        except zlib.error:
            raise PermanentError(f"body is not valid {coding}") from None
        pending = inflater.unconsumed_tail
        if not piece and not pending and pos >= len(view):
            break  # no input left and no progress: the stream is cut short
        size += len(piece)
        if size > limit:
            raise PermanentError(
                f"decompressed body exceeds the limit of {limit} bytes: its {len(view)} bytes "
                f"of {coding} inflate to {size}{'' if inflater.eof else ' or more'}",
                http_status=413,
            )
        ticket.reserve(len(view) + size)
        out.append(piece)
    if not inflater.eof:
        raise PermanentError(f"body is truncated {coding}")
    # What was fed past the stream's end (unconsumed_tail may repeat it: not counted).
    return min(pos, len(view)) - len(inflater.unused_data), size
