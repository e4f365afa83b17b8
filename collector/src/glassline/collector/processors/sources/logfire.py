"""Pydantic Logfire (and pydantic-ai through it) -> Glassline.

Logfire writes the GenAI conventions' own names; its extras are:

* The span name is the message *template* (``"answer {kind}"``); ``logfire.msg`` holds the
  rendered message, which becomes the span's name.
* A streamed call makes two records: the request span (model, no usage, no output) and, when
  the stream ends, a log record (``logfire.span_type = "log"``, zero duration, template
  ``"streaming response from ..."``) with the usage, the output and the stream's ``duration``
  in seconds. The log record is the model call (its start moved back by ``duration``); the
  request span becomes ``other``, so the call is counted once.
* ``gen_ai.usage.raw`` is the provider's usage object as JSON (OpenAI's nested shape carries
  the reasoning tokens); pydantic-ai writes ``gen_ai.usage.details.reasoning_tokens``.
"""

from __future__ import annotations

from typing import Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.semconv import attributes as a
from glassline.semconv.attributes import SpanKinds

from ._values import Hints, Rename, Source, json_object, nested_usage, to_amount, to_text

SPAN_TYPE: Final = "logfire.span_type"
_TEMPLATE: Final = "logfire.msg_template"
_STREAM_RESULT: Final = "streaming response from "

RENAMES: Final[dict[str, Rename]] = {
    "gen_ai.usage.details.reasoning_tokens": Rename(a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 40),
}


def hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """The rendered name; one model call per streamed request; usage from ``gen_ai.usage.raw``."""
    hint = Hints()
    template = to_text(attrs.get(_TEMPLATE))
    message = to_text(attrs.get("logfire.msg"))
    if message and template == record.name:
        hint.name = message
    raw = json_object(attrs.get("gen_ai.usage.raw"))
    if raw:
        cached, reasoning = nested_usage(raw)
        if cached and a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in attrs:
            attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cached
        if reasoning and a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs:
            attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    span_type = to_text(attrs.get(SPAN_TYPE))
    if span_type == "log" and template and template.startswith(_STREAM_RESULT):
        hint.kind = SpanKinds.LLM
        seconds = to_amount(attrs.get("duration"))
        if seconds is not None:
            hint.start_ns = max(0, record.end_ns - int(seconds * 1e9))
    elif span_type == "span" and _stream_request(attrs, record):
        hint.kind = SpanKinds.OTHER
    return hint


def _stream_request(attrs: dict[str, AttributeValue], record: SpanRecord) -> bool:
    """A model request span that ended without usage or output: its stream's result comes as
    the "streaming response" record. A failed request stays the (failed) model call."""
    return (
        a.GEN_AI_REQUEST_MODEL in attrs
        and a.GEN_AI_USAGE_INPUT_TOKENS not in attrs
        and a.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
        and a.GEN_AI_OUTPUT_MESSAGES not in attrs
        and "gen_ai.usage.raw" not in attrs
        and record.status != "error"
        and "LLM" in str(attrs.get("logfire.tags", ""))
    )


SOURCE: Final = Source("logfire", RENAMES, (SPAN_TYPE,), hints)
