"""Per-span size limits: long strings are truncated with a marker, excess attributes dropped.

A truncated attribute ``k`` keeps its first characters followed by the marker, and the span
gains ``glassline.truncated.k`` = the original length, so nothing is silently shortened.
Values the stores cannot keep (NaN, a NUL character, a lone surrogate: see
:mod:`glassline.collector.jsonsafe`) are replaced here too, in keys, nested values, the span and
event names and the status message. Runs first in the pipeline, so every later processor and the
store see bounded, JSON-safe spans.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

from glassline.collector.jsonsafe import safe_float, safe_str
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as attrs

if TYPE_CHECKING:  # config imports the processors' config models; avoid the cycle at runtime
    from glassline.collector.config import LimitsConfig

__all__ = ["FitColumnsProcessor", "LimitsProcessor"]


class LimitsProcessor:
    """Enforces :class:`LimitsConfig` on each span and makes it JSON-safe; never drops a span."""

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
        self.replaced_values = 0  # values made JSON-safe (NaN, NUL, lone surrogate)

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        counts = [0, 0]  # [truncated, replaced]
        dropped_attrs = dropped_events = 0
        resources: set[int] = set()  # decode shares one resource dict among its spans
        for span in batch:
            if len(span.attributes) > self._max_attrs:
                keys = list(span.attributes)[self._max_attrs :]
                dropped_attrs += len(keys)
                for key in keys:
                    del span.attributes[key]
            self._bound_all(span.attributes, counts, mark=True)
            if id(span.resource) not in resources:
                resources.add(id(span.resource))
                self._bound_all(span.resource, counts, mark=False)
            if len(span.events) > self._max_events:
                dropped_events += len(span.events) - self._max_events
                del span.events[self._max_events :]
            for event in span.events:
                self._bound_all(event.attributes, counts, mark=False)
                event.name = self._safe(event.name, counts)
            span.name = self._safe(span.name, counts)
            if span.status_message:
                span.status_message = self._safe(span.status_message, counts)
                if len(span.status_message) > self._max_len:
                    span.status_message = self._cut(span.status_message)
                    counts[0] += 1
            if span.service:  # decode lifted it from the resource before it was made safe
                span.service = self._safe(span.service, counts)
            if span.scope:
                span.scope = self._safe(span.scope, counts)
        truncated, replaced = counts
        if truncated or replaced or dropped_attrs or dropped_events:
            with self._lock:
                self.truncated_values += truncated
                self.replaced_values += replaced
                self.dropped_attributes += dropped_attrs
                self.dropped_events += dropped_events
        return batch

    @staticmethod
    def _safe(value: str, counts: list[int]) -> str:
        safe = safe_str(value)
        if safe is not value:
            counts[1] += 1
        return safe

    def _bound_all(self, values: dict[str, Any], counts: list[int], *, mark: bool) -> None:
        """Cuts long strings and makes every key and value JSON-safe, in place."""
        unsafe_keys = False
        for key, value in list(values.items()):
            if not key.isascii() or "\x00" in key:  # the cheap test first: most keys are ASCII
                unsafe_keys = unsafe_keys or safe_str(key) is not key
            if isinstance(value, str):
                if not value.isascii() or "\x00" in value:
                    value = values[key] = self._safe(value, counts)
                if len(value) > self._max_len:
                    values[key] = self._cut(value)
                    if mark:
                        values[attrs.TRUNCATED_PREFIX + key] = len(value)
                    counts[0] += 1
            elif isinstance(value, float):
                if not math.isfinite(value):
                    values[key] = safe_float(value)
                    counts[1] += 1
            elif isinstance(value, (list, dict)):
                fixed = self._fix_nested(value, counts)
                if fixed is not None:
                    values[key] = fixed
        if unsafe_keys:  # rare: rebuild the dict, keeping its order
            items = list(values.items())
            values.clear()
            for key, value in items:
                values[self._safe(key, counts)] = value

    def _cut(self, value: str) -> str:
        return value[: self._keep] + self._marker

    def _fix_nested(self, value: Any, counts: list[int]) -> Any:
        """A copy with long strings cut and unsafe values replaced, or None when all was fine."""
        cut = replaced = False

        def walk(v: Any) -> Any:
            nonlocal cut, replaced
            if isinstance(v, str):
                safe = safe_str(v)
                replaced = replaced or safe is not v
                if len(safe) > self._max_len:
                    cut = True
                    return self._cut(safe)
                return safe
            if isinstance(v, float):
                safe_f = safe_float(v)
                replaced = replaced or safe_f is not v
                return safe_f
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, dict):
                return {key(k) if isinstance(k, str) else k: walk(x) for k, x in v.items()}
            return v

        def key(k: str) -> str:  # a key is made safe but never cut
            nonlocal replaced
            safe = safe_str(k)
            replaced = replaced or safe is not k
            return safe

        result = walk(value)
        counts[0] += cut
        counts[1] += replaced
        return result if cut or replaced else None


class FitColumnsProcessor:
    """Cuts the typed string fields to the lengths of their ``spans`` columns.

    PostgreSQL refuses a value longer than its VARCHAR, which would fail the whole batch on
    every retry; one over-long ``user.id`` must not do that. Runs last, after normalize has
    filled the typed fields. Lengths are read from the store's model, not repeated here.
    """

    name = "fit_columns"

    def __init__(self) -> None:
        from glassline.collector.storage.models import Span

        self._lengths: dict[str, int] = {
            column.name: length
            for column in Span.__table__.columns
            if (length := getattr(column.type, "length", None))
            and column.name in SpanRecord.__slots__
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
