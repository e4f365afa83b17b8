"""Protobuf bodies built byte by byte, for the hostile-input specs: shapes no generated
message class would serialize for us (a span followed by a million empty events)."""

from __future__ import annotations

from typing import Any


def delimited(number: int, value: bytes) -> bytes:
    """A length-delimited protobuf field."""
    size, length = len(value), bytearray()
    while size > 127:
        length.append(size & 127 | 128)
        size >>= 7
    return bytes([number << 3 | 2, *length, size]) + value


def in_a_span(h: Any, inner: bytes) -> bytes:
    """A request of one valid span followed by ``inner`` (more fields of that span)."""
    return delimited(1, delimited(2, delimited(2, h.make_span(1).SerializeToString() + inner)))


def nested_values(depth: int, n: int) -> bytes:
    """An attribute whose value is arrays ``depth`` deep, the innermost of ``n`` empty values."""
    value = delimited(5, b"\x0a\x00" * n)
    for _ in range(depth):
        value = delimited(5, delimited(1, value))
    return delimited(9, delimited(1, b"k") + delimited(2, value))
