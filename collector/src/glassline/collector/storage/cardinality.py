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

from glassline.collector.records import SpanRecord
from glassline.collector.storage.rollup import BOUNDED_DIMENSIONS, bucket_of, span_dims

__all__ = ["OTHER", "CardinalityLimit"]

OTHER = "(other)"
_NAME = -1  # the position of span names among a tenant's sets (not a rollup dimension)


class CardinalityLimit:
    """Maps a span's rollup dimensions (:func:`span_dims`) to at most ``limit`` values of
    each of :data:`BOUNDED_DIMENSIONS` per tenant and hour.

    Up to ``max_sets`` full sets' worth of values (``max_sets * limit``) are remembered, over
    every tenant; past that the oldest hour's sets are forgotten first. A bound on the number
    of sets (512) instead forgot the sets of the hour being written as soon as about 170
    tenants were active in it (three sets each: stage, model, API key): each forgotten set
    started again from nothing, so a tenant with a request id in its stage names got a new
    ``limit`` of rows every time: 2,000 distinct stages in one hour under a bound of 1,000
    with 600 tenants (``/work/scratch/tenants/cardinality_tenants.py``)."""

    def __init__(self, limit: int, max_sets: int = 512) -> None:
        self.limit = limit
        self._max_values = max_sets * limit
        self._held = 0  # values remembered, over every set
        # hour -> (tenant, dimension position) -> the values seen there.
        self._hours: dict[int, dict[tuple[str, int], set[str]]] = {}
        self._lock = threading.Lock()

    def dims(self, span: SpanRecord) -> tuple[str, ...]:
        """The span's dimensions, a value past the limit replaced by :data:`OTHER`."""
        values = span_dims(span)
        hour = bucket_of(span.start_ns, 3600)
        folded: list[str] | None = None
        with self._lock:
            for position in BOUNDED_DIMENSIONS:
                value = values[position]
                if value and not self._admit(values[0], position, hour, value):
                    folded = folded or list(values)
                    folded[position] = OTHER
        return values if folded is None else tuple(folded)

    def name(self, span: SpanRecord) -> str:
        """The span's name, or :data:`OTHER` past ``limit`` names of its tenant in its hour
        (the names the trace list's record of seen values keeps, see ``storage.seen``)."""
        hour = bucket_of(span.start_ns, 3600)
        with self._lock:
            return span.name if self._admit(span.tenant, _NAME, hour, span.name) else OTHER

    def _admit(self, tenant: str, position: int, hour: int, value: str) -> bool:
        """Whether ``value`` is within the limit of its set (it is remembered if it fits)."""
        seen = self._values(tenant, position, hour)
        if value in seen:
            return True
        if len(seen) >= self.limit:
            return False
        seen.add(value)
        self._held += 1
        if self._held > self._max_values:
            self._forget_oldest()
        return True

    def _values(self, tenant: str, position: int, hour: int) -> set[str]:
        sets = self._hours.get(hour)
        if sets is None:
            sets = self._hours[hour] = {}
        seen = sets.get((tenant, position))
        if seen is None:
            seen = sets[(tenant, position)] = set()
        return seen

    def _forget_oldest(self) -> None:
        """Drop the oldest hour's sets (an hour long gone, mostly); if only one hour is left,
        its oldest set."""
        oldest = min(self._hours)
        sets = self._hours[oldest]
        if len(self._hours) > 1:
            del self._hours[oldest]
            self._held -= sum(len(seen) for seen in sets.values())
            return
        first = next(iter(sets))
        self._held -= len(sets.pop(first))
