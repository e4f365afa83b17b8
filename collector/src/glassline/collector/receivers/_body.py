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

__all__ = ["ClientGone", "read_body", "too_large"]

_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 256 * 1024  # decompressed bytes reserved per step
_FEED = 64 * 1024  # compressed bytes given to zlib at a time
_MAX_MEMBERS = 1000


class ClientGone(Exception):
    """The client closed the connection before its request body arrived: nobody to answer."""


def too_large(size: int, limit: int) -> PermanentError:
    return PermanentError(
        f"request body of {size} bytes exceeds the limit of {limit} bytes", http_status=413
    )


async def read_body(receive: Receive, ticket: Ticket, *, limit: int, gzip: bool) -> bytes:
    """The body of the ASGI request ``receive`` reads, decompressed when ``gzip``; raises
    PermanentError, RetryableError, ClientGone."""
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
    if not gzip:
        return body
    return gunzip(body, ticket, limit=limit)


def gunzip(body: bytes, ticket: Ticket, *, limit: int) -> bytes:
    """Decompress every gzip member, at most ``limit`` bytes; anything after them is refused.

    The input is fed a slice at a time: zlib copies what it has not used (``unused_data``,
    ``unconsumed_tail``) out of the input it was given, and given the whole body, 7 MB of empty
    members, back to back, took the front's event loop minutes of copying (quadratic), with
    every connection of the collector waiting. Members are capped at ``_MAX_MEMBERS`` too:
    exporters send one, and each costs a decompressor.
    """
    out: list[bytes] = []
    size = 0
    view = memoryview(body)
    pos, members = 0, 0
    while True:
        members += 1
        if members > _MAX_MEMBERS:
            raise PermanentError(f"body has more than {_MAX_MEMBERS} gzip members")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending: bytes | memoryview = b""  # input fed and not yet taken by the inflater
        while not inflater.eof:
            if not pending and pos < len(view):
                pending, pos = view[pos : pos + _FEED], pos + _FEED
            try:
                piece = inflater.decompress(pending, _INFLATE_STEP)
            except zlib.error:
                raise PermanentError("body is not valid gzip") from None
            pending = inflater.unconsumed_tail
            if not piece and not pending and pos >= len(view):
                break  # no input left and no progress: the stream is cut short
            size += len(piece)
            if size > limit:
                raise PermanentError(
                    f"decompressed body exceeds the limit of {limit} bytes", http_status=413
                )
            ticket.reserve(len(body) + size)
            out.append(piece)
        if not inflater.eof:
            raise PermanentError("body is truncated gzip")
        # What was fed past the member's end (unconsumed_tail may repeat it: not counted).
        pos = min(pos, len(view)) - len(inflater.unused_data)
        if pos >= len(view):
            return b"".join(out)
        if view[pos : pos + 2] != _GZIP_MAGIC:  # RFC 1952 allows members back to back, only
            raise PermanentError(
                f"body has {len(view) - pos} bytes of trailing data after the gzip"
            )
