"""What of the stored records is searchable: a document's text per trace, from the spans'
names, status messages, content attributes and exceptions, or from content events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glassline.collector.records import AttributeValue, ContentEvent, SpanRecord
from glassline.redaction import jsontext
from glassline.semconv import attributes as attrs

__all__ = [
    "CONTENT_ATTRIBUTES",
    "MAX_DOC_CHARS",
    "Doc",
    "docs_for_events",
    "docs_for_spans",
    "docs_for_texts",
    "span_texts",
    "text_of",
]

# The attributes whose text is searchable (JSON message lists are read for their strings).
CONTENT_ATTRIBUTES = (
    attrs.GEN_AI_INPUT_MESSAGES,
    attrs.GEN_AI_OUTPUT_MESSAGES,
    attrs.GEN_AI_SYSTEM_INSTRUCTIONS,
    attrs.GEN_AI_TOOL_NAME,
    attrs.GEN_AI_TOOL_CALL_ARGUMENTS,
    attrs.GEN_AI_TOOL_CALL_RESULT,
)
# Keys of the message JSON that hold labels, not content ("role": "user" is in every message).
_LABEL_KEYS = frozenset({"role", "type", "finish_reason", "id", "mime_type", "modality"})
_EXCEPTION_KEYS = ("exception.type", "exception.message")
# A tsvector holds at most 1 MB of words and positions, or the whole INSERT fails; a character
# takes at most 4 bytes there, its word's position and count included (262,144 failed).
MAX_DOC_CHARS = 250_000


@dataclass(frozen=True, slots=True)
class Doc:
    """One trace's search document: its text, timed by the trace's start as stored."""

    tenant: str
    trace_id: str
    start_ns: int
    text: str


def _strings(value: Any, out: list[str]) -> None:
    """The content strings of a JSON value, depth first, labels left out."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _LABEL_KEYS:
                _strings(item, out)


def _attribute_texts(attributes: dict[str, AttributeValue], out: list[str]) -> None:
    for key in CONTENT_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            # Cut by the size limit, not JSON or nested too deep: indexed as the text it is.
            with contextlib.suppress(ValueError):
                value = jsontext.parse(value)
        if value is not None:
            _strings(value, out)


def span_texts(span: SpanRecord) -> list[str]:
    """What a user would search for in a span: its name, status message, content, errors."""
    out = [span.name]
    if span.status_message:
        out.append(span.status_message)
    _attribute_texts(span.attributes, out)
    for event in span.events:
        if event.name == "exception":
            out.extend(str(event.attributes[k]) for k in _EXCEPTION_KEYS if k in event.attributes)
    return out


def text_of(texts: Iterable[str]) -> str:
    """The document: each distinct text once, one per line, capped in size."""
    return "\n".join(dict.fromkeys(t for t in texts if t))[:MAX_DOC_CHARS]


def docs_for_spans(spans: Sequence[SpanRecord], starts: dict[tuple[str, str], int]) -> list[Doc]:
    """One document per trace of ``spans``; ``starts`` gives each trace's start as stored."""
    return docs_for_texts({(s.tenant, s.trace_id, s.span_id): span_texts(s) for s in spans}, starts)


def docs_for_texts(
    texts: Mapping[tuple[str, str, str], list[str]], starts: dict[tuple[str, str], int]
) -> list[Doc]:
    """One document per trace of the spans' :func:`span_texts`, keyed by tenant, trace and
    span id; ``starts`` gives each trace's start as stored."""
    by_trace: dict[tuple[str, str], list[str]] = {}
    for (tenant, trace_id, _), found in texts.items():
        by_trace.setdefault((tenant, trace_id), []).extend(found)
    return [
        Doc(tenant, trace_id, starts.get((tenant, trace_id), 0), text_of(found))
        for (tenant, trace_id), found in by_trace.items()
    ]


def docs_for_events(events: Sequence[ContentEvent]) -> list[Doc]:
    """One document per trace of content events (messages that came apart from their span)."""
    texts: dict[tuple[str, str], list[str]] = {}
    starts: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.tenant, event.trace_id)
        _attribute_texts(event.attributes, texts.setdefault(key, []))
        starts[key] = min(starts.get(key, event.time_ns), event.time_ns)
    return [Doc(t, tr, starts[(t, tr)], text_of(found)) for (t, tr), found in texts.items()]
