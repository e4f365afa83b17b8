"""The collector's in-flight span: what receivers produce and processors transform.

A receiver decodes OTLP into :class:`SpanRecord` with the raw attributes; ``normalize`` fills the
typed LLM fields from them in the Glassline vocabulary; ``enrich`` adds cost; ``redact`` cleans
the strings. The store maps the typed fields to columns and keeps the rest as JSON.

An :class:`EvaluationRecord` is one quality judgement about a span or trace (OpenTelemetry's
``gen_ai.evaluation.result``): lifted from span events, computed from spans at ingest, read
from log records or posted to the API later. A span carries those of its own in ``evaluations``.

A :class:`ContentEvent` is a GenAI content event (an OTLP log record such as ``gen_ai.user.message``)
already turned into the span attributes it contributes (``gen_ai.input.messages`` ...); the
store attaches it to its span whether the span is stored before or after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from glassline.semconv import attributes as attrs

# A dict is an OTLP kvlist value (and the redaction counts the collector adds).
AttributeValue = str | bool | int | float | list[Any] | dict[str, Any] | None

# The largest count (tokens, retries, spans an SDK lost) and amount (dollars, milliseconds)
# one span may report; larger ones are no numbers. Beyond any real call, and low enough that
# billions of spans summed in one rollup row stay within 64 bits: 2**63 - 1 tokens in one
# span overflowed the sum and failed the batch, retryably, for ever, on both databases.
MAX_COUNT = 2**31 - 1
MAX_AMOUNT = 1e12
MAX_NS = 2**63 - 1  # times are nanoseconds in signed 64-bit columns (until 2262)
# How far past the collector's clock a span may start (or a log record be timed): a day holds
# any clock skew and a local time sent as UTC. A span of a clock years ahead (2200) topped the
# newest-first trace list for good, and retention, which purges by age, never took it.
MAX_AHEAD_NS = 86_400 * 1_000_000_000


def latest_ns() -> int:
    """The latest time a span may start or a log record be timed at, now."""
    return time.time_ns() + MAX_AHEAD_NS


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(slots=True)
class EvaluationRecord:
    """One evaluation result, owned by one tenant; ``id`` is unique per tenant (idempotency).

    ``source`` says where it came from: ``span_event``, ``log``, ``api`` or ``signal``
    (computed at ingest). The dimensions (``stage`` ... ``service_version``) are those of the
    evaluated span, so evaluations roll up next to the spans' cost and latency.
    """

    tenant: str
    id: str
    name: str
    time_ns: int
    source: str
    trace_id: str | None = None
    span_id: str | None = None
    response_id: str | None = None
    score_value: float | None = None
    score_label: str | None = None
    explanation: str | None = None
    stage: str | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    service_version: str | None = None


@dataclass(slots=True)
class ContentEvent:
    """The messages one GenAI log record carries, as attributes of the span it belongs to.

    ``attributes`` maps a message attribute (``gen_ai.input.messages``, ``gen_ai.output.messages``,
    ``gen_ai.system_instructions``) to a JSON list in the conventions' message format; the span
    gets, per attribute, the lists of all its events joined in (``time_ns``, ``seq``) order.
    """

    tenant: str
    trace_id: str  # 32 lowercase hex chars
    span_id: str  # 16 lowercase hex chars
    event_id: str  # the same for a resent record: the store keeps each once
    name: str
    time_ns: int
    seq: int  # the record's position among its span's records in the export
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass(slots=True)
class SpanRecord:
    """One span, owned by one tenant, with its LLM fields lifted into typed slots."""

    tenant: str
    trace_id: str  # 32 lowercase hex chars
    span_id: str  # 16 lowercase hex chars
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    otel_kind: str = "INTERNAL"  # SERVER, CLIENT, ...
    status: str = "unset"  # "unset" | "ok" | "error"
    status_message: str | None = None
    service: str | None = None
    scope: str | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    resource: dict[str, AttributeValue] = field(default_factory=dict)

    # Typed fields, filled by normalize / enrich from the attributes above.
    kind: str = "other"  # glassline span kind: workflow, stage, llm, tool, retry_attempt, other
    stage: str | None = None
    operation: str | None = None
    provider: str | None = None
    model: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    input_tokens: int = 0  # includes cache_read and cache_creation tokens
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None
    cache_layer: str | None = None
    cache_hit: bool | None = None
    route: str | None = None
    fallback: bool = False
    retries: int = 0
    ttft_ms: float | None = None
    service_version: str | None = None  # the resource's service.version
    prompt_name: str | None = None  # the prompt template's name and version
    prompt_version: str | None = None
    api_key: str | None = None  # the NAME of the API key the export came with (never the key)
    evaluations: list[EvaluationRecord] = field(default_factory=list)  # of this span, to store

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id

    @property
    def sdk_lost_spans(self) -> int:
        """The spans an SDK reports it lost, if this span is its report, else 0."""
        if self.name != attrs.SDK_DROPPED_SPANS:
            return 0
        lost = self.attributes.get(attrs.SDK_DROPPED_SPANS)
        return lost if type(lost) is int and 0 < lost <= MAX_COUNT else 0

    @property
    def is_error(self) -> bool:
        return self.status == "error"
