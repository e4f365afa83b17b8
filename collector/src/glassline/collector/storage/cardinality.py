"""A bound on the distinct values of a rollup dimension: a tenant's stages, models, routes...

An app that puts a request id in a stage name makes every span a rollup row of its own: with
50,000 such stages the minute, hour and day rollups held a row per span, and every stats query
merged 100,000 sketches (2.2 s of CPU). Each process lets a tenant have ``limit`` values of
each dimension per hour in its rollups and counts spans of any further new value under
:data:`OTHER`, as OpenTelemetry's metric cardinality limit folds the excess into one overflow
series. Totals stay exact and the spans keep their own values; only the breakdown folds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from glassline.collector.records import SpanRecord
from glassline.collector.storage.rollup import BOUNDED_DIMENSIONS, bucket_of, span_dims

__all__ = ["OTHER", "CardinalityLimit"]

OTHER = "(other)"


class CardinalityLimit:
    """Maps a span's rollup dimensions (:func:`span_dims`) to at most ``limit`` values of
    each of :data:`BOUNDED_DIMENSIONS` per tenant and hour. The sets of the ``max_sets``
    latest (tenant, dimension, hour) are kept."""

    def __init__(self, limit: int, max_sets: int = 512) -> None:
        self.limit = limit
        self._max_sets = max_sets
        self._seen: OrderedDict[tuple[str, int, int], set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def dims(self, span: SpanRecord) -> tuple[str, ...]:
        """The span's dimensions, a value past the limit replaced by :data:`OTHER`."""
        values = span_dims(span)
        hour = bucket_of(span.start_ns, 3600)
        folded: list[str] | None = None
        with self._lock:
            for position in BOUNDED_DIMENSIONS:
                value = values[position]
                if not value:
                    continue
                seen = self._values(values[0], position, hour)
                if value in seen:
                    continue
                if len(seen) < self.limit:
                    seen.add(value)
                    continue
                folded = folded or list(values)
                folded[position] = OTHER
        return values if folded is None else tuple(folded)

    def _values(self, tenant: str, position: int, hour: int) -> set[str]:
        key = (tenant, position, hour)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set()
            if len(self._seen) > self._max_sets:
                self._seen.popitem(last=False)  # the oldest set: an hour long gone, mostly
        return seen
