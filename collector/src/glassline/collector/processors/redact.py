"""The ``redact`` pipeline step: PII and secrets out of every span before anything is stored.

Everything of a span that came from the payload is scanned, in one batched
:class:`~glassline.redaction.Redactor` call per batch, each part in a *placement* that the
evidence and metrics name:

- ``attribute``: span attributes (keys, and every string at any depth of the values);
- ``event``: span event attributes (``exception.message``, content events ...);
- ``status``: the status message;
- ``name``: span and event names, and the typed labels normalize lifted from the attributes
  (stage, route, operation, provider, cache layer, service, scope); names only after a cue;
- ``field``: the typed model, user and session fields;
- ``resource``: resource attributes (each resource once per batch; its spans share it).

Span links are not decoded, so nothing of them is stored. Ids, timestamps and the typed
numeric fields are not text. Each span with something redacted carries
``glassline.redaction.entities = {ENTITY: count}`` (no values, no hashes); a value whose
analysis failed becomes ``[REDACTION_FAILED]`` and is counted as ``REDACTION_FAILED``
(fail closed). ``glassline_redactions{entity, placement}`` adds them up.

To use more cores, run more collector processes (``server.workers``): each has its own
Redactor, so no span crosses a process boundary twice.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from glassline.collector.metrics import Metrics
from glassline.collector.records import SpanRecord
from glassline.redaction import RedactionConfig, Redactor
from glassline.redaction._names import MODE_CUES, MODE_FULL
from glassline.semconv import attributes as attrs

__all__ = ["ENTITIES_ATTRIBUTE", "FAILED_ENTITY", "PLACEMENTS", "RedactProcessor"]

ENTITIES_ATTRIBUTE = attrs.REDACTION_ENTITIES
FAILED_ENTITY = "REDACTION_FAILED"
PLACEMENTS = ("attribute", "event", "status", "name", "field", "resource")

# Typed fields, scanned under the attribute names they come from (so structural rules apply).
_LABELS = (
    ("glassline.stage", "stage"),
    ("glassline.route.chosen", "route"),
    ("gen_ai.operation.name", "operation"),
    ("gen_ai.provider.name", "provider"),
    ("glassline.cache.layer", "cache_layer"),
    ("service.name", "service"),
    ("otel.scope.name", "scope"),
)
_FIELDS = (
    ("gen_ai.request.model", "model"),
    ("enduser.id", "user_id"),
    ("session.id", "session_id"),
)
# The span name and typed labels (the ``name`` map of a span without events), read in one call.
_LABEL_VALUES = attrgetter("name", *(field for _, field in _LABELS))
# Hashes of label values whose ``name`` map needed nothing done (the same few stage, model
# and service names in every span): such spans skip building and planning the map. Bounded;
# str hashes are keyed per process, as the redactor's own memo of clean values.
_CLEAN_LABELS_MAX = 65536
_SPAN_NAME = "span.name"
_EVENT_NAME = "event.name."
_STATUS = "otel.status_description"  # OTel's name for the status message

# Writes one map's redacted values back to its owner (a span, an event or a resource).
_Writer = Callable[[Any, dict[str, Any]], None]


class RedactProcessor:
    """Redacts a batch of spans in place and returns it (never drops a span).

    ``counts`` (per entity, including ``REDACTION_FAILED``), ``failures`` and ``spans_redacted``
    are running totals for tests and reports; they never hold values.
    """

    name = "redact"

    def __init__(
        self, config: RedactionConfig | Redactor | None = None, metrics: Metrics | None = None
    ) -> None:
        """Build from a config (expensive: builds the Presidio recognizers) or a Redactor.

        ``metrics`` gets redactions by entity and placement, and the result cache's hits and
        misses, after each batch.
        """
        self.redactor = config if isinstance(config, Redactor) else Redactor(config)
        self._metrics = metrics
        self._cache_seen = (0, 0)  # cache hits and misses already reported
        self.counts: Counter[str] = Counter()
        self.failures = 0
        self.spans_redacted = 0
        self._lock = threading.Lock()  # totals may be updated from several pipeline threads
        self._clean_labels: set[int] = set()

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        maps: list[dict[str, Any]] = []
        modes: list[int] = []
        # Per map: the span it belongs to (None for a resource), its placement, its writer
        # and the writer's target. No closures: most maps need nothing written back.
        owners: list[tuple[int | None, str, _Writer, Any]] = []

        def add(span: int | None, placement: str, values: dict[str, Any], mode: int,
                write: _Writer, target: Any) -> None:  # fmt: skip
            if values:
                maps.append(values)
                modes.append(mode)
                owners.append((span, placement, write, target))

        resources: dict[int, dict[str, Any]] = {}
        clean_labels = self._clean_labels
        labelled: dict[int, int] = {}  # map index -> hash of its span's label values
        for i, span in enumerate(batch):
            span.attributes.pop(ENTITIES_ATTRIBUTE, None)  # evidence is ours, never the client's
            add(i, "attribute", span.attributes, MODE_FULL, _write_attributes, span)
            for event in span.events:
                add(i, "event", event.attributes, MODE_FULL, _write_attributes, event)
            if span.status_message:
                add(i, "status", {_STATUS: span.status_message}, MODE_FULL, _write_status, span)
            # Where the values of the name map needed nothing done before, they need nothing now.
            seen = _label_key(span)
            if seen is None or seen not in clean_labels:
                if seen is not None:
                    labelled[len(maps)] = seen
                add(i, "name", _labels(span), MODE_CUES, _write_labels, span)
            add(i, "field", _fields(span), MODE_FULL, _write_fields, span)
            if span.resource and id(span.resource) not in resources:
                resources[id(span.resource)] = span.resource
        for resource in resources.values():
            add(None, "resource", resource, MODE_FULL, _write_resource, resource)

        per_span: dict[int, Counter[str]] = {}
        placed: Counter[tuple[str, str]] = Counter()
        changed = self.redactor.redact_attributes_changed(maps, modes)
        if len(clean_labels) > _CLEAN_LABELS_MAX:
            clean_labels.clear()
        clean_labels.update(seen for index, seen in labelled.items() if index not in changed)
        for index, result in changed.items():
            span_index, placement, write, target = owners[index]
            write(target, result.attributes)
            found = Counter(result.counts)
            if result.failed:
                found[FAILED_ENTITY] += result.failed
            if span_index is not None:
                per_span.setdefault(span_index, Counter()).update(found)
                if placement == "attribute":
                    for name, length in result.truncated.items():
                        batch[span_index].attributes[attrs.TRUNCATED_PREFIX + name] = length
            for entity, n in found.items():
                placed[(entity, placement)] += n
        for i, counts in per_span.items():  # after the loop: span.attributes may be replaced
            if counts:
                batch[i].attributes[ENTITIES_ATTRIBUTE] = dict(sorted(counts.items()))
        self._report(placed, sum(1 for counts in per_span.values() if counts))
        return batch

    def _report(self, placed: Counter[tuple[str, str]], spans: int) -> None:
        with self._lock:
            for (entity, _), n in placed.items():
                self.counts[entity] += n
                if entity == FAILED_ENTITY:
                    self.failures += n
            self.spans_redacted += spans
        metrics = self._metrics
        if metrics is None:
            return
        for (entity, placement), n in placed.items():
            metrics.redactions.labels(entity, placement).inc(n)
        cache = self.redactor.cache
        if cache is None:
            return
        with self._lock:  # the cache is shared by threads: report each lookup exactly once
            now, seen = (cache.hits, cache.misses), self._cache_seen
            self._cache_seen = now
        metrics.redaction_cache.labels("hit").inc(now[0] - seen[0])
        metrics.redaction_cache.labels("miss").inc(now[1] - seen[1])


def _write_attributes(owner: Any, values: dict[str, Any]) -> None:
    owner.attributes = values


def _write_status(span: SpanRecord, values: dict[str, Any]) -> None:
    span.status_message = values.get(_STATUS)


def _write_resource(resource: dict[str, Any], values: dict[str, Any]) -> None:
    # In place: the spans of this resource share the dict.
    resource.clear()
    resource.update(values)


def _label_key(span: SpanRecord) -> int | None:
    """The hash of what the span's name map is made of, or None where it cannot stand for the
    map: event names join it, and a label that is no text may be unhashable."""
    if span.events:
        return None
    try:
        return hash(_LABEL_VALUES(span))
    except TypeError:
        return None


def _labels(span: SpanRecord) -> dict[str, Any]:
    values: dict[str, Any] = {_SPAN_NAME: span.name}
    for i, event in enumerate(span.events):
        values[f"{_EVENT_NAME}{i}"] = event.name
    values.update(_present(span, _LABELS))
    return values


def _write_labels(span: SpanRecord, values: dict[str, Any]) -> None:
    span.name = _text(values.get(_SPAN_NAME))
    for i, event in enumerate(span.events):
        event.name = _text(values.get(f"{_EVENT_NAME}{i}"))
    _write_present(span, _LABELS, values)


def _fields(span: SpanRecord) -> dict[str, Any]:
    return _present(span, _FIELDS)


def _write_fields(span: SpanRecord, values: dict[str, Any]) -> None:
    _write_present(span, _FIELDS, values)


def _present(span: SpanRecord, pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The typed fields of ``span`` that are set, under their attribute names."""
    values = {}
    for key, field in pairs:
        value = getattr(span, field)
        if value is not None:
            values[key] = value
    return values


def _write_present(
    span: SpanRecord, pairs: tuple[tuple[str, str], ...], values: dict[str, Any]
) -> None:
    for key, field in pairs:
        if getattr(span, field) is not None:
            setattr(span, field, values.get(key))


def _text(value: Any) -> str:
    # A dropped (policy "drop") name still needs a value: the column is NOT NULL.
    return value if isinstance(value, str) else "[DROPPED]"
