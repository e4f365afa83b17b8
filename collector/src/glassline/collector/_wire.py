"""A minimal protobuf wire-format reader.

It splits a message into its fields without interpreting them, so the decoder can parse
each span on its own and reject just the bad ones when the whole-message parse fails, and
it counts a request's items before that parse: see :func:`count_items` and
:func:`count_messages`.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.descriptor import Descriptor

__all__ = [
    "Schema",
    "WireError",
    "count_items",
    "count_messages",
    "length_delimited_fields",
    "schema_of",
]

# The message-typed fields of a message: field number -> the schema of that field's type.
# Recursive types (AnyValue -> ArrayValue -> AnyValue) make it a graph, not a tree.
Schema = dict[int, "Schema"]


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
        # Groups nest in groups: a stack of the open ones, not recursion, since 100,000
        # nested starts cost 100,000 bytes and would pass Python's recursion limit.
        open_groups = [field]
        while open_groups:
            if pos >= len(buf):
                raise WireError("unterminated group")
            key, pos = _varint(buf, pos)
            if key & 7 == 4:
                if key >> 3 != open_groups.pop():
                    raise WireError("mismatched end of group")
            elif key & 7 == 3:
                open_groups.append(key >> 3)
            else:
                pos = _skip(buf, pos, key >> 3, key & 7)
        return pos
    raise WireError(f"unsupported wire type {wire_type}")


def length_delimited_fields(buf: bytes, number: int) -> list[bytes]:
    """The raw values of length-delimited field ``number`` (views of ``buf`` if it is a
    memoryview); checks the whole message's framing."""
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


def schema_of(descriptor: Descriptor) -> Schema:
    """The :data:`Schema` of a generated message type, from its descriptor."""
    schemas: dict[str, Schema] = {}

    def build(message: Descriptor) -> Schema:
        if message.full_name not in schemas:
            schema = schemas[message.full_name] = {}
            for field in message.fields:
                if field.message_type is not None:
                    schema[field.number] = build(field.message_type)
        return schemas[message.full_name]

    return build(descriptor)


def count_messages(
    buf: bytes, schema: Schema, limit: int, rest: Sequence[int] = (), chunk_bits: int = 16
) -> int:
    """How many messages the runtime would make of ``buf`` (of type ``schema``), at any depth
    below the top; counting stops once they pass ``limit``.

    Only the message-typed fields are read into; strings, bytes and unknown fields are skipped
    in one step. A message whose framing breaks is read no further (its parse fails there too,
    and the decoder rejects just that span or record); the caller checks the top levels.

    ``rest[i]``, when given, bounds the messages in ``buf`` from byte ``i << chunk_bits`` on.
    The walk goes in the order of the bytes, so it stops as soon as the messages counted so
    far and that bound of the bytes not yet read are within ``limit``: then the count it
    returns is only a lower bound, but so is it at most ``limit``.
    """
    count = 0
    stack = []  # (position, end, schema) of the messages to go back to, outermost first
    pos, end, fields = 0, len(buf), schema
    while True:
        try:
            while pos < end:
                key = buf[pos]
                if key < 0x80:  # one-byte keys and lengths are the rule: read them inline
                    pos += 1
                else:
                    key, pos = _varint(buf, pos)
                if key & 7 != 2:
                    if key < 8:
                        break  # field number 0: not a message; the parse fails here
                    pos = _skip(buf, pos, key >> 3, key & 7)
                    continue
                size = buf[pos] if pos < end else 0x80
                if size < 0x80:
                    start = pos + 1
                else:
                    size, start = _varint(buf, pos)
                pos = start + size
                child = fields.get(key >> 3)
                if child is not None:
                    count += 1
                    if count > limit or (rest and count + rest[start >> chunk_bits] <= limit):
                        return count
                    if child and size:
                        stack.append((pos, end, fields))
                        pos, end, fields = start, min(pos, end), child
        except WireError:
            pass  # broken framing: the parse stops here as well
        if not stack:
            return count
        pos, end, fields = stack.pop()
