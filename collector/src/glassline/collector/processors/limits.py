"""Per-span size limits: long strings are truncated with a marker, excess attributes dropped.

A truncated attribute ``k`` keeps its first characters followed by the marker, and the span
gains ``glassline.truncated.k`` = the original length, so nothing is silently shortened.
Runs first in the pipeline, so every later processor and the store see bounded spans.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from glassline.collector.records import SpanRecord
from glassline.instrumentation import attributes as attrs

if TYPE_CHECKING:  # config imports the processors' config models; avoid the cycle at runtime
    from glassline.collector.config import LimitsConfig

__all__ = ["FitColumnsProcessor", "LimitsProcessor"]


class LimitsProcessor:
    """Enforces :class:`LimitsConfig` on each span; never drops a span."""

    name = "limits"

    def __init__(self, config: LimitsConfig) -> None:
        self._max_len = config.max_attribute_length
        self._max_attrs = config.max_attributes_per_span
        self._max_events = config.max_events_per_span
        self._marker = config.truncation_marker
        self._keep = max(0, self._max_len - len(self._marker))
        self._lock = threading.Lock()
        self.truncated_values = 0
        self.dropped_attributes = 0
        self.dropped_events = 0

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        truncated = dropped_attrs = dropped_events = 0
        for span in batch:
            if len(span.attributes) > self._max_attrs:
                keys = list(span.attributes)[self._max_attrs :]
                dropped_attrs += len(keys)
                for key in keys:
                    del span.attributes[key]
            truncated += self._truncate_all(span.attributes, mark=True)
            truncated += self._truncate_all(span.resource, mark=False)
            if len(span.events) > self._max_events:
                dropped_events += len(span.events) - self._max_events
                del span.events[self._max_events :]
            for event in span.events:
                truncated += self._truncate_all(event.attributes, mark=False)
            if span.status_message and len(span.status_message) > self._max_len:
                span.status_message = self._cut(span.status_message)
                truncated += 1
        if truncated or dropped_attrs or dropped_events:
            with self._lock:
                self.truncated_values += truncated
                self.dropped_attributes += dropped_attrs
                self.dropped_events += dropped_events
        return batch

    def _truncate_all(self, values: dict[str, Any], *, mark: bool) -> int:
        count = 0
        for key, value in list(values.items()):
            if isinstance(value, str):
                if len(value) > self._max_len:
                    values[key] = self._cut(value)
                    if mark:
                        values[attrs.TRUNCATED_PREFIX + key] = len(value)
                    count += 1
            elif isinstance(value, list | dict):
                cut = self._cut_nested(value)
                if cut is not None:
                    values[key] = cut
                    count += 1
        return count

    def _cut(self, value: str) -> str:
        return value[: self._keep] + self._marker

    def _cut_nested(self, value: Any) -> Any:
        """A copy with long strings cut, or None when nothing needed cutting."""
        changed = False

        def walk(v: Any) -> Any:
            nonlocal changed
            if isinstance(v, str) and len(v) > self._max_len:
                changed = True
                return self._cut(v)
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            return v

        result = walk(value)
        return result if changed else None


class FitColumnsProcessor:
    """Cuts the typed string fields to the lengths of their ``spans`` columns.

    PostgreSQL refuses a value longer than its VARCHAR, which would fail the whole batch on
    every retry; one over-long ``user.id`` must not do that. Runs last, after normalize has
    filled the typed fields. Lengths are read from the store's model, not repeated here.
    """

    name = "fit_columns"

    def __init__(self) -> None:
        from glassline.collector.storage.models import Span

        self._lengths = {
            column.name: column.type.length
            for column in Span.__table__.columns
            if getattr(column.type, "length", None) and column.name in SpanRecord.__slots__
        }
        self.cut = 0

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        for span in batch:
            for field, length in self._lengths.items():
                value = getattr(span, field)
                if isinstance(value, str) and len(value) > length:
                    setattr(span, field, value[:length])
                    self.cut += 1
        return batch
