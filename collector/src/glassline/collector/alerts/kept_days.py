"""Whole past UTC days of an SLO's (good, total) per key, counted once and kept.

A latency SLO counts the calls under ``threshold_ms`` in merged latency sketches, an evaluation
SLO with ``min_score`` the scores in merged score sketches. Merging a 30-day period again on
every pass took 2.7 ms a key (2,000 routes under 8 rules: 9-12 s of a 15 s interval); a past
day is merged once here and reused while its fingerprint, which the caller reads cheaply from
the same rollups, is unchanged (a span or a score written late for that day changes it).

Counts are kept as arrays indexed by key, 24 bytes a key and day: a dict of (good, total) per
key and day took 360 (each day its own key tuples).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from glassline.collector.alerts.queries import Key

__all__ = ["DAY", "GoodTotal", "KeptDays"]

DAY = 86_400
# Key-days kept in all, least recently used days evicted: 3,000,000 (~72 MB of arrays) hold
# 30 days of 2,000 routes under 50 rules.
KEY_DAYS_KEPT = 3_000_000

GoodTotal = dict[Key, tuple[float, float]]
Counts = np.ndarray[Any, np.dtype[np.float64]]


class _Counts:
    """The kept days of one SLO (as its answer fields read) on one store."""

    __slots__ = ("days", "keys")

    def __init__(self) -> None:
        self.keys: dict[Key, int] = {}  # each key's column in the days' arrays
        # day -> (fingerprint, rows good / total / seen by key column)
        self.days: dict[int, tuple[Any, Counts]] = {}

    def put(self, day: int, fingerprint: Any, found: GoodTotal) -> int:
        """Keep ``found`` for ``day``; returns the keys its array holds."""
        for key in found:
            self.keys.setdefault(key, len(self.keys))
        counts = np.zeros((3, len(self.keys)))
        for key, (good, total) in found.items():
            counts[:, self.keys[key]] = good, total, 1.0
        self.days[day] = (fingerprint, counts)
        return counts.shape[1]


class KeptDays:
    """Whole past days of (good, total) per key for SLOs, shared by every caller of a process
    (the alert engine, the API, the dashboard), bounded by ``KEY_DAYS_KEPT``."""

    def __init__(self, limit: int = KEY_DAYS_KEPT) -> None:
        self._limit = limit
        self._slos: dict[tuple[str, str], _Counts] = {}
        self._order: OrderedDict[tuple[str, str, int], int] = OrderedDict()  # -> keys held
        self._held = 0
        self._lock = threading.Lock()  # the alert engine and the API may ask at once

    def good_total(
        self,
        slo: tuple[str, str],
        days: range,
        fingerprints: Mapping[int, Any],
        count_day: Callable[[int], GoodTotal],
    ) -> GoodTotal:
        """(good, total) per key summed over ``days`` (UTC day starts) for ``slo`` (store,
        answer fields): a day whose fingerprint changed, or that is not kept, is counted by
        ``count_day``; a day without a fingerprint has no data."""
        with self._lock:
            kept = self._slos.get(slo)
            stale = [
                d
                for d in days
                if d in fingerprints and (kept is None or _fingerprint(kept, d) != fingerprints[d])
            ]
        found = {day: count_day(day) for day in stale}  # outside the lock: it reads the store
        with self._lock:
            kept = self._slos.setdefault(slo, _Counts())
            for day, day_found in found.items():
                self._keep(slo, kept, day, fingerprints[day], day_found)
            sums = np.zeros((3, len(kept.keys)))
            for day in days:
                if day in fingerprints and day in kept.days:
                    self._order.move_to_end((*slo, day))
                    counts = kept.days[day][1]
                    sums[:, : counts.shape[1]] += counts
            keys = list(kept.keys.items())
            self._evict()
        return {key: (float(sums[0, i]), float(sums[1, i])) for key, i in keys if sums[2, i]}

    def _keep(
        self, slo: tuple[str, str], kept: _Counts, day: int, print_: Any, found: GoodTotal
    ) -> None:
        held = kept.put(day, print_, found)
        self._held += held - self._order.pop((*slo, day), 0)
        self._order[(*slo, day)] = held

    def _evict(self) -> None:
        # Never the days just summed (the most recent): a period larger than the bound is
        # still answered, only counted again on the next pass.
        while self._held > self._limit and len(self._order) > 1:
            (store, answer, day), held = self._order.popitem(last=False)
            self._held -= held
            kept = self._slos[(store, answer)]
            del kept.days[day]
            if not kept.days:
                del self._slos[(store, answer)]


def _fingerprint(kept: _Counts, day: int) -> Any:
    found = kept.days.get(day)
    return None if found is None else found[0]
