"""The ``signals`` pipeline step: quality signals computed from what spans already carry.

Each signal is an :class:`EvaluationRecord` (``source="signal"``, label ``fail``) on the span
it concerns, stored and rolled up like any evaluation. A signal is emitted only when it
happens, so healthy traffic costs no rows; its rate is its count in ``evaluation_rollups``
over the calls in ``rollups`` (LLM calls, or tool calls for the tool signals: ``RATE_OVER``)
for the same minutes, stage and model.

========================  ==================================================================
name                      emitted on
========================  ==================================================================
``glassline.truncated``   an LLM call that stopped on its token limit (finish reason
                          ``length``, ``max_tokens``, ``max_output_tokens``); value 1
``glassline.empty``       an LLM call without error whose answer is empty (0 output tokens
                          reported, or output messages without text or tool calls); value 1
``glassline.refusal``     an LLM call refused or blocked (finish reason ``content_filter``,
                          ``refusal``, ``safety``, ``blocked``...); value 1
``glassline.tool_error``  a tool call that ended in error; value 1
``glassline.tool_loop``   the third and later call, in one trace, of the same tool with the
                          same arguments; value = how many such calls so far (across the
                          exports a worker received for the last 4,096 traces with tool calls;
                          a resent span is not counted twice)
``glassline.retries``     a call that needed retries; value = retries made
``glassline.fallback``    a call answered by a fallback route or model; value 1
========================  ==================================================================
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable

from glassline.collector.processors.evaluations import span_dims
from glassline.collector.records import EvaluationRecord, SpanRecord
from glassline.redaction import jsontext
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import SpanKinds

__all__ = ["RATE_OVER", "SIGNALS", "SignalsProcessor"]

# Each signal and the kind of span its rate is over: it is emitted only when it happens, so
# its count means something only against the calls it could have happened on.
RATE_OVER: dict[str, str] = {
    "glassline.truncated": SpanKinds.LLM,
    "glassline.empty": SpanKinds.LLM,
    "glassline.refusal": SpanKinds.LLM,
    "glassline.tool_error": SpanKinds.TOOL,
    "glassline.tool_loop": SpanKinds.TOOL,
    "glassline.retries": SpanKinds.LLM,
    "glassline.fallback": SpanKinds.LLM,
}
SIGNALS = tuple(RATE_OVER)
_TRUNCATED = frozenset({"length", "max_tokens", "max_output_tokens", "model_length"})
_REFUSED = frozenset({"content_filter", "refusal", "safety", "blocked", "prohibited_content",
                      "recitation", "spii", "guardrail_intervened"})  # fmt: skip
_LOOP_AT = 3  # the same call this many times is a loop, not a retry
_SHORT_OUTPUT = 512  # longer output messages are not parsed: they are not empty
_TRACES_REMEMBERED = 4096  # traces whose tool calls are kept, least recently used evicted


def _reasons(span: SpanRecord) -> set[str]:
    value = span.attributes.get(attrs.GEN_AI_RESPONSE_FINISH_REASONS)
    if isinstance(value, str):
        return {value.lower()}
    if isinstance(value, list):
        return {str(v).lower() for v in value}
    return set()


def _empty_output(span: SpanRecord) -> bool:
    if span.is_error or span.operation == "embeddings":
        return False
    if span.attributes.get(attrs.GEN_AI_USAGE_OUTPUT_TOKENS) == 0:
        return True
    raw = span.attributes.get(attrs.GEN_AI_OUTPUT_MESSAGES)
    if not isinstance(raw, str) or len(raw) > _SHORT_OUTPUT:
        return False
    try:
        messages = jsontext.parse(raw)
    except ValueError:
        return False
    if not isinstance(messages, list) or not messages:
        return False
    for message in messages:
        parts = message.get("parts") if isinstance(message, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                return False
            if part.get("type") != "text" or str(part.get("content") or "").strip():
                return False  # a tool call, or some text: not empty
    return True


class ToolCalls:
    """Which spans called each (tool, arguments) in each recent trace: an agent loop spans
    several exports. Bounded (least recently used traces are forgotten) and keyed by span id,
    so a resent batch counts nothing twice."""

    def __init__(self) -> None:
        self._traces = _TRACES_REMEMBERED
        self._calls: OrderedDict[tuple[str, str], dict[tuple[str, str], set[str]]] = OrderedDict()
        self._lock = threading.Lock()  # receivers may run the pipeline from several threads

    def count(self, span: SpanRecord, tool: str, arguments: object) -> int:
        """How many distinct spans of this trace called ``tool`` with these arguments."""
        digest = hashlib.blake2b(str(arguments).encode(), digest_size=8).hexdigest()
        trace = (span.tenant, span.trace_id)
        with self._lock:
            calls = self._calls.get(trace)
            if calls is None:
                calls = self._calls[trace] = {}
                if len(self._calls) > self._traces:
                    self._calls.popitem(last=False)
            else:
                self._calls.move_to_end(trace)
            spans = calls.setdefault((tool, digest), set())
            spans.add(span.span_id)
            return len(spans)


class SignalsProcessor:
    """Appends quality signals to ``span.evaluations``; never drops a span."""

    name = "signals"

    def __init__(self) -> None:
        self._tool_calls = ToolCalls()

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        for span in batch:
            for name, value in self._signals(span):
                span.evaluations.append(_signal(span, name, value))
        return batch

    def _signals(self, span: SpanRecord) -> Iterable[tuple[str, float]]:
        if span.kind == "llm":
            reasons = _reasons(span)
            if reasons & _TRUNCATED:
                yield "glassline.truncated", 1.0
            if reasons & _REFUSED:
                yield "glassline.refusal", 1.0
            elif _empty_output(span):
                yield "glassline.empty", 1.0
        tool = span.attributes.get(attrs.GEN_AI_TOOL_NAME)
        if span.kind == "tool" or tool is not None:
            if span.is_error:
                yield "glassline.tool_error", 1.0
            arguments = span.attributes.get(attrs.GEN_AI_TOOL_CALL_ARGUMENTS)
            seen = self._tool_calls.count(span, str(tool or span.name), arguments)
            if seen >= _LOOP_AT:
                yield "glassline.tool_loop", float(seen)
        if span.retries:
            yield "glassline.retries", float(span.retries)
        if span.fallback:
            yield "glassline.fallback", 1.0


def _signal(span: SpanRecord, name: str, value: float) -> EvaluationRecord:
    return EvaluationRecord(
        tenant=span.tenant,
        id=f"{span.trace_id}{span.span_id}:{name}",
        name=name,
        time_ns=span.end_ns,
        source="signal",
        trace_id=span.trace_id,
        span_id=span.span_id,
        response_id=None,
        score_value=value,
        score_label="fail",
        **span_dims(span.stage, span.model, span.attributes, span.resource),
    )
