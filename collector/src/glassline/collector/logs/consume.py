"""What happens to decoded GenAI events: the span pipeline's redaction, then the store.

A content event goes through the same ``limits`` and ``redact`` steps as a span (the same
processor instances, so the same scope rules, cache and counters), as a stand-in span whose
attributes are the event's message attributes. Nothing reaches the store before that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from glassline.collector.auth import Principal
from glassline.collector.evaluations import EvaluationIntake, evaluation_from_log
from glassline.collector.logs.decode import Evaluated, LogsDecodeResult
from glassline.collector.pipeline import Pipeline
from glassline.collector.records import ContentEvent, SpanRecord

__all__ = ["CONTENT_STEPS", "ContentStore", "EvaluationPath", "LogsConsumer", "through_intake"]

# The span pipeline's steps an event's content goes through (the others read span fields).
CONTENT_STEPS = ("limits", "redact")


class ContentStore(Protocol):
    """Where content events go: the store (``Store.write_content``)."""

    def write_content(self, events: Sequence[ContentEvent]) -> object: ...


# Where gen_ai.evaluation.result records go (the evaluations intake): it redacts, links and
# stores them, once per record.
EvaluationPath = Callable[[Principal, Sequence[Evaluated]], object]


def through_intake(intake: EvaluationIntake) -> EvaluationPath:
    """The evaluation path of the collector's :class:`EvaluationIntake` (the same one that
    ``POST /api/v1/evaluations`` uses: redacts the explanation, links the span, stores once)."""

    def store(principal: Principal, evaluated: Sequence[Evaluated]) -> object:
        records = []
        for e in evaluated:
            record = evaluation_from_log(
                principal.tenant, e.attributes, time_ns=e.time_ns, trace_id=e.trace_id,
                span_id=e.span_id,
            )  # fmt: skip
            if record is not None:  # decode already refused records without a name
                records.append(record)
        return intake.consume(principal, records)

    return store


class LogsConsumer:
    """``consume(principal, decoded)``: returns once the events are durable."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: ContentStore | None,
        *,
        evaluations: EvaluationPath,
    ) -> None:
        """``pipeline`` holds the content steps (see :data:`CONTENT_STEPS`) and no sink."""
        self._pipeline = pipeline
        self._store = store
        self._evaluations = evaluations

    def consume(self, principal: Principal, decoded: LogsDecodeResult) -> int:
        """Store ``decoded``'s content events (redacted) and evaluations; returns new events."""
        if decoded.evaluations:
            path = self._evaluations
            self._pipeline.run_step("store", lambda e: path(principal, e), decoded.evaluations)
        events = decoded.events
        if not events:
            return 0
        stand_ins = [
            SpanRecord(
                tenant=principal.tenant,
                trace_id=e.trace_id,
                span_id=e.span_id,
                name=e.name,
                start_ns=e.time_ns,
                end_ns=e.time_ns,
                attributes=e.attributes,
            )
            for e in events
        ]
        # The content steps never drop a span: zip(strict) holds them to that.
        for event, span in zip(events, self._pipeline.process(stand_ins), strict=True):
            event.attributes = span.attributes
            event.name = span.name  # the event name is payload too: redacted like a span name
        if self._store is None:
            return 0
        written = self._pipeline.run_step("store", self._store.write_content, events)
        return int(getattr(written, "inserted", len(events)))
