"""How many objects a request would make its parser allocate, counted before the parse.

The protobuf runtime costs 25-230 bytes per message however small, and ``json.loads`` 60-70
bytes per object or array: 8 MB of two-byte empty events, attribute values or array entries
is four million messages, and 8 MB of ``{},`` 2.7 million dicts; that took a worker 3.4 s and
230 MB (protobuf) or 190 MB (JSON) before anything could refuse it. Each check here decides
with the cheapest bound that settles it, so a normal export pays for a few byte counts:

1. ``len(body) // 2``: no protobuf message takes fewer than two bytes (a key, a length);
2. the bytes a message's key can start with (protobuf) or ``{`` and ``[`` (JSON), counted
   at C speed: every message or container starts with one, but strings hold them too;
3. only when both are over the limit, the exact count: on the wire, reading into message
   fields alone (:func:`~glassline.collector._wire.count_messages`) in the order of the
   bytes, until the messages so far and the key-like bytes not yet read fit; in JSON,
   outside its strings (:func:`_json_entries`).

In JSON every array item and object member counts, not only objects and arrays: the parse
makes a Python object of each string and number (60 bytes for ``"ab"``, a key 140 with its
place in a dict), and the protobuf JSON mapping then makes a message of each item of an array
of messages, whatever it holds. 8 MB of ``"ab",`` in an attribute's ``arrayValue`` took a
worker 7-9 s of CPU and +187 MB before its span was rejected. Each item or member but the
first of its container follows a ``,``, so the count is the ``{``, ``[`` and ``,`` outside
strings: the entries of every container (an empty one counts as one). A real OTLP/JSON
attribute is four (the attribute, ``key``, ``value``, ``stringValue``); the peers' recorded
exports take 18-34 bytes per entry, so 8 MB of them is under 470,000.
"""

from __future__ import annotations

import re
from itertools import accumulate

from glassline.collector._wire import Schema, count_messages
from glassline.collector.errors import PermanentError

__all__ = ["MAX_OBJECTS", "WireObjects", "check_json_objects"]

# A real export stays below: the peers' recorded spans hold 14-44 messages each (a 512-span
# batch 7,000-23,000), and 10,000 spans (the span limit) of ~24 attributes each, an OTel
# Collector's batch of 8,192 attribute-rich spans, ~500,000. A 413 is final for an exporter,
# so the limit errs towards them: a hostile body at the limit parses to ~95 MB (~190 bytes a
# message), and the byte counts settle real bodies up to ~7 MB without the exact walk.
MAX_OBJECTS = 500_000

_CHUNK_BITS = 16
_CHUNK = 1 << _CHUNK_BITS
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# From a place outside strings: bytes outside strings and whole strings, as far as it can go
# (possessive: nothing to backtrack over). It stops before a string that does not end in
# the window it is given.
_JSON_PLAIN = re.compile(rb'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
# Each array item and object member starts a container or follows a comma.
_JSON_ENTRY_BYTES = (b"{", b"[", b",")
# bytes.translate deletes these, leaving those: one pass, where three counts took three
# (0.34 ms for a 512-span export against 0.80; two counts of { and [ were 0.55). Read 256 KB
# at a time, so it never copies a body that is nothing else.
_JSON_NOT_ENTRY = bytes(b for b in range(256) if bytes((b,)) not in _JSON_ENTRY_BYTES)
_JSON_SCAN = 1 << 18
# The exact count's window: re.sub keeps a bytes object for each piece between strings
# before it joins them, 2.2 MB for 64 KB of short strings and ~280 KB for this.
_JSON_WINDOW = 1 << 13


class WireObjects:
    """The message count check for one protobuf request type (its :data:`Schema`)."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        keys = _message_keys(schema)
        # bytes.translate deletes every other byte value: what is left starts some key.
        self._others = bytes(b for b in range(256) if b not in keys)

    def check(self, body: bytes, limit: int) -> None:
        """Refuse (413) ``body`` if parsing it would make more than ``limit`` messages."""
        if len(body) // 2 <= limit or len(body.translate(None, self._others)) <= limit:
            return
        # The key-like bytes from each 64 KB chunk to the end: the walk stops once what it
        # has counted and what the unread bytes could hold fit (often half way: prompt text).
        rest = list(
            accumulate(
                len(body[at : at + _CHUNK].translate(None, self._others))
                for at in reversed(range(0, len(body), _CHUNK))
            )
        )[::-1]
        if count_messages(body, self._schema, limit, rest, _CHUNK_BITS) > limit:
            raise _too_many(f"more than {limit} protobuf messages", limit)


def check_json_objects(body: bytes, limit: int) -> None:
    """Refuse (413) an OTLP/JSON ``body`` of more than ``limit`` array items and object
    members (see the module doc)."""
    cheap = sum(_entry_bytes(body[at : at + _JSON_SCAN]) for at in range(0, len(body), _JSON_SCAN))
    if cheap <= limit:
        return
    if _json_entries(body, limit) > limit:
        raise _too_many(f"more than {limit} JSON array items and object members", limit)


def _json_entries(body: bytes, limit: int) -> int:
    """The ``{``, ``[`` and ``,`` of ``body`` outside its strings, counted until past
    ``limit``; what ``_JSON_STRING.sub(b"", body)`` leaves of them, without its copy of the
    body (+23 MB at 8 MB).

    The body is read a window at a time: what lies outside strings, and whole strings, up to
    a string that the window cuts (or that never ends). That string is then matched against
    the rest of the body, as the whole body's scan would.
    """
    count, at, end = 0, 0, len(body)
    while at < end and count <= limit:
        plain = _JSON_PLAIN.match(body, at, min(at + _JSON_WINDOW, end))
        stop = plain.end() if plain is not None else at  # it matches nothing at least
        if stop > at:
            count += _entry_bytes(_JSON_STRING.sub(b"", body[at:stop]))
        if stop < end and body[stop] == ord('"'):
            string = _JSON_STRING.match(body, stop)
            if string is None:
                # No quote after it ends a string either: each reads the same escapes to the
                # end. The scan that tried them one by one took 24 s for 80 KB of '"\'.
                return count + sum(body.count(byte, stop) for byte in _JSON_ENTRY_BYTES)
            at = string.end()
        else:
            at = stop
    return count


def _entry_bytes(chunk: bytes) -> int:
    """The ``{``, ``[`` and ``,`` of ``chunk``, strings or not."""
    return len(chunk.translate(None, _JSON_NOT_ENTRY))


def _too_many(what: str, limit: int) -> PermanentError:
    return PermanentError(
        f"request has {what} (attributes, values, events, links, spans...); the limit is "
        f"{limit} per request (limits.max_objects_per_request)",
        http_status=413,
    )


def _message_keys(schema: Schema) -> set[int]:
    """The first byte of the key of every message-typed field reachable from ``schema``, as
    written (length-delimited) and as a longer varint, which the runtime accepts too."""
    found: set[int] = set()
    seen: set[int] = set()
    todo = [schema]
    while todo:
        fields = todo.pop()
        if id(fields) in seen:
            continue
        seen.add(id(fields))
        for number, child in fields.items():
            low = (number << 3 | 2) & 0x7F
            found |= {low, low | 0x80}
            todo.append(child)
    return found
