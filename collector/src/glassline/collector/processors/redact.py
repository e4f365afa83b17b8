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
from typing import Any, cast

from glassline.collector.metrics import Metrics
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.redaction import RedactionConfig, Redactor
from glassline.semconv import attributes as attrs

__all__ = ["FAILED_ENTITY", "STATUS_ATTRIBUTE", "RedactProcessor"]

# The status message is scanned under this (OTel's) attribute name, so scope rules apply to it.
STATUS_ATTRIBUTE = "otel.status_description"
FAILED_ENTITY = "REDACTION_FAILED"
_STATUS = object()  # marks the status message among the maps sent to the redactor


class RedactProcessor:
    """Redacts a batch of spans in place and returns it (never drops a span).

    ``counts`` (per entity, including ``REDACTION_FAILED``), ``failures`` and ``spans_redacted``
    are running totals for the collector's metrics; they never hold values.
    """

    name = "redact"

    def __init__(
        self, config: RedactionConfig | Redactor | None = None, metrics: Metrics | None = None
    ) -> None:
        """Build from a config (expensive: builds the Presidio recognizers) or a Redactor.

        ``metrics`` gets the result cache's hits and misses after each batch.
        """
        self.redactor = config if isinstance(config, Redactor) else Redactor(config)
        self._metrics = metrics
        self._cache_seen = (0, 0)  # cache hits and misses already reported
        self.counts: Counter[str] = Counter()
        self.failures = 0
        self.spans_redacted = 0
        self._lock = threading.Lock()  # totals may be updated from several pipeline threads

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        maps: list[dict[str, Any]] = []
        # Where each map came from: (index of its span in the batch, its event, or None for
        # the span's attributes, or _STATUS). Empty maps are left out: nothing to scan.
        owners: list[tuple[int, object]] = []
        for i, span in enumerate(batch):
            maps.append(span.attributes)
            owners.append((i, None))
            for event in span.events:
                if event.attributes:
                    maps.append(event.attributes)
                    owners.append((i, event))
            if span.status_message:
                maps.append({STATUS_ATTRIBUTE: span.status_message})
                owners.append((i, _STATUS))
        per_span: dict[int, Counter[str]] = {}
        for index, result in self.redactor.redact_attributes_changed(maps).items():
            i, where = owners[index]
            span = batch[i]
            counts = per_span.setdefault(i, Counter())
            counts.update(result.counts)
            if result.failed:
                counts[FAILED_ENTITY] += result.failed
            if where is None:
                span.attributes = result.attributes
                for name, length in result.truncated.items():
                    span.attributes[attrs.TRUNCATED_PREFIX + name] = length
            elif where is _STATUS:
                span.status_message = result.attributes.get(STATUS_ATTRIBUTE)
            else:
                cast(SpanEvent, where).attributes = result.attributes
        totals: Counter[str] = Counter()
        for i, counts in per_span.items():  # after the loop: span.attributes may be replaced in it
            for entity, n in counts.items():
                batch[i].attributes[attrs.REDACTION_PREFIX + entity] = n
            totals.update(counts)
        with self._lock:
            self.counts.update(totals)
            self.failures += totals[FAILED_ENTITY]
            self.spans_redacted += sum(1 for counts in per_span.values() if counts)
        self._report_cache()
        return batch

    def _report_cache(self) -> None:
        cache = self.redactor.cache
        if self._metrics is None or cache is None:
            return
        with self._lock:  # the cache is shared by threads: report each lookup exactly once
            now, seen = (cache.hits, cache.misses), self._cache_seen
            self._cache_seen = now
        self._metrics.redaction_cache.labels("hit").inc(now[0] - seen[0])
        self._metrics.redaction_cache.labels("miss").inc(now[1] - seen[1])
