"""A minimal protobuf wire-format reader.

It splits a message into its fields without interpreting them, so the decoder can parse
each span on its own and reject just the bad ones when the whole-message parse fails, and
it counts a request's items before that parse: see :func:`count_items`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["WireError", "count_items", "length_delimited_fields"]


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


def _skip(buf: bytes, pos: int, field: int, wire_type: int) -> int:
    """The position after the value of ``field`` (of ``wire_type``) that starts at ``pos``."""
    if wire_type == 0:
        return _varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    if wire_type == 2:
        size, pos = _varint(buf, pos)
        return pos + size
    if wire_type == 3:  # a group (proto2), which the runtime keeps as an unknown field
        while True:
            if pos >= len(buf):
                raise WireError("unterminated group")
            key, pos = _varint(buf, pos)
            if key & 7 == 4:
                if key >> 3 != field:
                    raise WireError("mismatched end of group")
                return pos
            pos = _skip(buf, pos, key >> 3, key & 7)
    raise WireError(f"unsupported wire type {wire_type}")


def length_delimited_fields(buf: bytes, number: int) -> list[bytes]:
    """The raw values of length-delimited field ``number``; checks the whole message's framing."""
    found = []
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        if wire_type == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise WireError("length past the end of the message")
            if field == number:
                found.append(buf[pos : pos + size])
            pos += size
        else:
            pos = _skip(buf, pos, field, wire_type)
        if pos > end:
            raise WireError("truncated field")
    return found


def count_items(buf: bytes, path: Sequence[int], limit: int) -> tuple[int, int]:
    """``(items, groups)``: how many messages ``buf`` holds at ``path``, the field numbers from
    the top (``(1, 2, 2)``: resource_spans, scope_spans, spans), and how many on the way.

    Counting stops once the items pass ``limit`` or the groups pass the most ``limit`` items
    could need (one group per item at each level), so it reads a bounded number of fields. The
    runtime's parse costs 25-170 bytes of memory per message, however small: 8 MB of empty spans
    (two bytes each) took 668 MB to parse before their number could be refused.
    """
    items = groups = 0
    most_groups = limit * (len(path) - 1)
    todo = [(0, len(buf), 0)]  # (start, end, depth) of each message to read
    while todo:
        pos, end, depth = todo.pop()
        number, last = path[depth], depth == len(path) - 1
        while pos < end:
            key, pos = _varint(buf, pos)
            field, wire_type = key >> 3, key & 7
            if field == 0:
                raise WireError("field number 0")
            if field == number and wire_type == 2:
                size, start = _varint(buf, pos)
                pos = start + size
                if last:
                    items += 1
                else:
                    groups += 1
                    todo.append((start, min(pos, end), depth + 1))
                if items > limit or groups > most_groups:
                    return items, groups
            else:
                pos = _skip(buf, pos, field, wire_type)
        if pos > end:
            raise WireError("truncated field")
    return items, groups
