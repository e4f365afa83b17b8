"""A minimal protobuf wire-format reader, used only when the whole-message parse fails.

It splits a message into its fields without interpreting them, so the decoder can parse
each span on its own and reject just the bad ones.
"""

from __future__ import annotations

__all__ = ["WireError", "length_delimited_fields"]


class WireError(ValueError):
    """The bytes are not a protobuf message at all."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def length_delimited_fields(buf: bytes, number: int) -> list[bytes]:
    """The raw values of length-delimited field ``number``; checks the whole message's framing."""
    found = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        if wire_type == 0:
            _, pos = _varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise WireError("length past the end of the message")
            if field == number:
                found.append(buf[pos : pos + size])
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireError("truncated field")
    return found
