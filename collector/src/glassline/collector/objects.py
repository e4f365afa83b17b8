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
   outside its strings.
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
    """Refuse (413) an OTLP/JSON ``body`` of more than ``limit`` objects and arrays."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return
    outside_strings = _JSON_STRING.sub(b"", body)
    if outside_strings.count(b"{") + outside_strings.count(b"[") > limit:
        raise _too_many(f"more than {limit} JSON objects and arrays", limit)


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
