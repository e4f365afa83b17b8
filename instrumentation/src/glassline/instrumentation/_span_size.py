"""About how many bytes a span takes in an OTLP export request, read without encoding it.

The export queue cuts its batches by this as well as by count: a collector refuses a request
over its size limit whole (Glassline's default is 8 MB, 413 / INVALID_ARGUMENT), so a batch
of long prompts would lose every span in it, the short ones too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["approximate_bytes"]

# Ids, times, kind, flags and the framing of a span; of one attribute (its key aside); of one
# event or link (times, ids). Rounded up from encoded spans: the estimate errs large.
_SPAN_BYTES = 96
_ATTRIBUTE_BYTES = 8
_EVENT_BYTES = 24


def _text_bytes(text: str) -> int:
    # isascii is a flag lookup in CPython: encoding is only paid for non-ASCII text.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return _text_bytes(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_value_bytes(item) + 2 for item in value)
    return 9  # a number or a bool: at most a varint or a fixed 64 bits and its tag


def _attributes_bytes(attributes: Mapping[str, Any] | None) -> int:
    if not attributes:
        return 0
    return sum(
        len(key) + _value_bytes(value) + _ATTRIBUTE_BYTES for key, value in attributes.items()
    )


def approximate_bytes(span: ReadableSpan) -> int:
    """``span``'s size in an export request, about (its resource and scope not counted)."""
    size = _SPAN_BYTES + _text_bytes(span.name) + _attributes_bytes(span.attributes)
    for event in span.events:
        size += _EVENT_BYTES + _text_bytes(event.name) + _attributes_bytes(event.attributes)
    for link in span.links:
        size += _EVENT_BYTES + _attributes_bytes(link.attributes)
    description = span.status.description
    if description:
        size += _text_bytes(description)
    return size
