"""OTLP attribute values (``AnyValue``, ``KeyValue`` lists) as plain Python values.

Shared by the span and log record decoders. Arrays become lists, kvlists dicts, bytes base64
text; nesting deeper than :data:`MAX_DEPTH` is stored as a marker.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["MAX_DEPTH", "attributes", "value"]

MAX_DEPTH = 8  # nested arrays / kvlists deeper than this are stored as a marker
_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    """A ``KeyValue`` list as a dict; an empty key is left out."""
    out: dict[str, Any] = {}
    for kv in kvs:
        key = kv.key
        if key:
            # value() inlined: ten attributes per span, 512 spans per request. Most values are
            # strings, and a non-empty string_value can only be the oneof's member: one read
            # of the upb message instead of WhichOneof and getattr.
            v = kv.value
            text = v.string_value
            if text:
                out[key] = text
                continue
            kind = v.WhichOneof("value")
            out[key] = getattr(v, kind) if kind in _SCALARS else _composite(v, kind, 0)
    return out


def value(v: AnyValue, depth: int = 0) -> Any:
    """One ``AnyValue``; None when unset."""
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in _SCALARS else _composite(v, kind, depth)


def _composite(v: AnyValue, kind: str | None, depth: int) -> Any:
    """An array, kvlist or bytes value (``kind`` is its oneof field); None when unset."""
    if depth >= MAX_DEPTH and kind in ("array_value", "kvlist_value"):
        return "[nested too deeply]"
    if kind == "array_value":
        return [value(x, depth + 1) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None
