"""The ``evaluations`` pipeline step: ``gen_ai.evaluation.result`` span events as records.

Runs after ``redact``, so an explanation is stored as redacted as the event that carried it.
Each event becomes an :class:`EvaluationRecord` on ``span.evaluations`` with the span's
dimensions (stage, model, prompt name and version, service version); the store writes them
with the span, before sampling decides whether the span itself is kept. The event stays on
the span too (the trace view shows it). Its id is the span's ids plus the event's position,
so a resent span yields the same evaluation and the store keeps it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from glassline.collector.processors.versions import prompt_of, service_version_of, text
from glassline.collector.records import MAX_AMOUNT, AttributeValue, EvaluationRecord, SpanRecord
from glassline.semconv import attributes as attrs

__all__ = ["EvaluationsProcessor", "SpanDims", "score", "span_dims", "text"]

_MAX_NAME = 256
_MAX_LABEL = 256


def score(value: object) -> float | None:
    """A number within :data:`MAX_AMOUNT` of 0 from an attribute value (numbers and numeric
    strings), else None: scores are summed, and 1e308 twice is no sum."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if -MAX_AMOUNT <= number <= MAX_AMOUNT else None  # NaN compares false


class SpanDims(TypedDict):
    """The :class:`EvaluationRecord` fields an evaluation takes from the span it evaluates."""

    stage: str | None
    model: str | None
    prompt_name: str | None
    prompt_version: str | None
    service_version: str | None


def span_dims(
    stage: str | None,
    model: str | None,
    attributes: Mapping[str, Any],
    resource: Mapping[str, Any],
) -> SpanDims:
    """The dimensions an evaluation of this span rolls up under."""
    prompt_name, prompt_version = prompt_of(attributes)
    return {
        "stage": stage,
        "model": model,
        "prompt_name": prompt_name,
        "prompt_version": prompt_version,
        "service_version": service_version_of(resource),
    }


def evaluation_from_event(
    span: SpanRecord, index: int, time_ns: int, event: Mapping[str, AttributeValue]
) -> EvaluationRecord | None:
    """The evaluation an event's attributes describe; None without a name."""
    name = text(event.get(attrs.GEN_AI_EVALUATION_NAME), _MAX_NAME)
    if name is None:
        return None
    return EvaluationRecord(
        tenant=span.tenant,
        id=f"{span.trace_id}{span.span_id}:{index}",
        name=name,
        time_ns=time_ns or span.end_ns,
        source="span_event",
        trace_id=span.trace_id,
        span_id=span.span_id,
        response_id=text(event.get(attrs.GEN_AI_RESPONSE_ID), 256)
        or text(span.attributes.get(attrs.GEN_AI_RESPONSE_ID), 256),
        score_value=score(event.get(attrs.GEN_AI_EVALUATION_SCORE_VALUE)),
        score_label=text(event.get(attrs.GEN_AI_EVALUATION_SCORE_LABEL), _MAX_LABEL),
        explanation=text(event.get(attrs.GEN_AI_EVALUATION_EXPLANATION)),
        **span_dims(span.stage, span.model, span.attributes, span.resource),
    )


class EvaluationsProcessor:
    """Lifts evaluation events into ``span.evaluations``; never drops a span."""

    name = "evaluations"

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        for span in batch:
            for index, event in enumerate(span.events):
                if event.name == attrs.GEN_AI_EVALUATION_RESULT:
                    record = evaluation_from_event(span, index, event.time_ns, event.attributes)
                    if record is not None:
                        span.evaluations.append(record)
        return batch
