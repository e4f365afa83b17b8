"""The ``redact`` pipeline step: PII and secrets out of every span before anything is stored.

Scans span attributes, span event attributes (``exception.message`` ...) and the status
message with one batched :class:`~glassline.redaction.Redactor` call per batch. Never touches
the resource (service name, ids), the span's identity or its typed numeric fields. Each span
that had something redacted carries ``glassline.redaction.<ENTITY> = count`` (the pipeline's
metrics read these); a value whose analysis failed becomes ``[REDACTION_FAILED]`` and is
counted under ``glassline.redaction.REDACTION_FAILED`` (fail closed).

To use more cores, run more collector processes (``server.workers``): each has its own
Redactor, so no span crosses a process boundary twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from glassline.collector.records import SpanRecord
from glassline.instrumentation import attributes as attrs
from glassline.redaction import RedactionConfig, RedactionResult, Redactor

__all__ = ["FAILED_ENTITY", "STATUS_ATTRIBUTE", "RedactProcessor"]

# The status message is scanned under this (OTel's) attribute name, so scope rules apply to it.
STATUS_ATTRIBUTE = "otel.status_description"
FAILED_ENTITY = "REDACTION_FAILED"


class RedactProcessor:
    """Redacts a batch of spans in place and returns it (never drops a span).

    ``counts`` (per entity, including ``REDACTION_FAILED``), ``failures`` and ``spans_redacted``
    are running totals for the collector's metrics; they never hold values.
    """

    name = "redact"

    def __init__(self, config: RedactionConfig | Redactor | None = None) -> None:
        """Build from a config (expensive: builds the Presidio recognizers) or a Redactor."""
        self.redactor = config if isinstance(config, Redactor) else Redactor(config)
        self.counts: Counter[str] = Counter()
        self.failures = 0
        self.spans_redacted = 0
        self._lock = threading.Lock()  # totals may be updated from several pipeline threads

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        maps: list[dict[str, Any]] = []
        for span in batch:
            maps.append(span.attributes)
            maps.extend(event.attributes for event in span.events)
            maps.append({STATUS_ATTRIBUTE: span.status_message} if span.status_message else {})
        results = iter(self.redactor.redact_attributes_many(maps))
        totals: Counter[str] = Counter()
        redacted = 0
        for span in batch:
            counts = self._apply(span, results)
            totals.update(counts)
            redacted += bool(counts)
        with self._lock:
            self.counts.update(totals)
            self.failures += totals[FAILED_ENTITY]
            self.spans_redacted += redacted
        return batch

    def _apply(self, span: SpanRecord, results: Any) -> Counter[str]:
        """Write one span's results back; returns its counts per entity."""
        counts: Counter[str] = Counter()
        main: RedactionResult = next(results)
        _add(counts, main)
        for event in span.events:
            result: RedactionResult = next(results)
            _add(counts, result)
            event.attributes = result.attributes
        status: RedactionResult = next(results)
        _add(counts, status)
        if span.status_message:
            span.status_message = status.attributes.get(STATUS_ATTRIBUTE)
        span.attributes = main.attributes
        for name, length in main.truncated.items():
            span.attributes[attrs.TRUNCATED_PREFIX + name] = length
        for entity, n in counts.items():
            span.attributes[attrs.REDACTION_PREFIX + entity] = n
        return counts


def _add(counts: Counter[str], result: RedactionResult) -> None:
    counts.update(result.counts)
    if result.failed:
        counts[FAILED_ENTITY] += result.failed
