"""The time window and tenant every page is filtered by, and their URL encoding.

A window is ``[start, end)`` in Unix seconds, aligned to whole minutes because the rollups are
per minute. ``range`` presets are relative to now unless the URL pins ``end`` (shared links to
an incident keep showing the incident).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from glassline.collector.records import MAX_NS
from glassline.collector.storage.aggregates import Scope

__all__ = [
    "CUSTOM",
    "DEFAULT_RANGE",
    "RANGES",
    "Window",
    "bucket_seconds",
    "calendar_starts",
    "url_seconds",
    "window_from_params",
]

# Preset -> (length in seconds, chart bucket in seconds). A bucket that is a whole number of
# rollup rows lets the charts read the coarsest rows (aggregates.pieces): a month drawn by day
# reads ~30 daily rows per series instead of ~720 hourly ones (the Latency page merges a
# sketch per row, 30 d: 502 -> 127 ms CPU at 1M spans).
RANGES: dict[str, tuple[int, int]] = {
    "1h": (3600, 60),
    "6h": (6 * 3600, 300),
    "24h": (86400, 900),
    "7d": (7 * 86400, 3600),
    "30d": (30 * 86400, 86400),
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range ``[start, end)`` in Unix seconds, optionally one tenant, one
    service version and one prompt version (filters of every rollup figure)."""

    start: int
    end: int
    tenant: str | None = None
    bucket: int = 60  # chart bucket in seconds, a multiple of 60
    service_version: str | None = None
    prompt_version: str | None = None

    def scope(self, kinds: Sequence[str] | None = None) -> Scope:
        """The rollup rows this window's figures count (of ``kinds`` of spans, if given)."""

        def one(value: str | None) -> tuple[str, ...] | None:
            return (value,) if value else None

        return Scope(
            tenant=one(self.tenant),
            kind=tuple(kinds) if kinds else None,
            service_version=one(self.service_version),
            prompt_version=one(self.prompt_version),
        )

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def start_ns(self) -> int:
        return self.start * 1_000_000_000

    @property
    def end_ns(self) -> int:
        return self.end * 1_000_000_000

    def partial_buckets(self, now: float | None = None) -> frozenset[int]:
        """Starts of the chart buckets the window holds only part of: the first when the window
        opens inside it, the last when the window closes inside it or it is still being written
        (at ``now``). A sum over part of a bucket is no peer of its neighbours' (today's spend
        is not a drop): the charts draw these apart."""
        now = time.time() if now is None else now
        found = set()
        if self.start % self.bucket:
            found.add(self.start - self.start % self.bucket)
        last = (self.end - 1) - (self.end - 1) % self.bucket
        if last + self.bucket > min(self.end, now):
            found.add(last)
        return frozenset(found)

    def previous(self) -> Window:
        """The window of the same length just before this one (for change tiles)."""
        return replace(self, start=self.start - self.length, end=self.start)

    def with_tenant(self, tenant: str | None) -> Window:
        return replace(self, tenant=tenant or None)


def bucket_seconds(length: int) -> int:
    """The chart bucket for a window of ``length`` seconds: 24 to 100 points up to a week,
    then one per day (whole daily rollup rows, see ``RANGES``)."""
    for preset_length, bucket in sorted(RANGES.values()):
        if length <= preset_length:
            return bucket
    return 86400


def _minute_ceiling(ts: float) -> int:
    return (int(ts) // 60 + 1) * 60


CUSTOM = "custom"


def window_from_params(params: Mapping[str, str], now: float | None = None) -> tuple[Window, str]:
    """The window described by URL parameters ``range``, ``start``, ``end``, ``tenant``,
    ``version`` (a service version) and ``prompt`` (a prompt version).

    ``start`` (with ``end``, Unix seconds) is a custom range and wins over the preset; its chart
    bucket follows its length. Unknown or malformed values fall back to the defaults rather
    than failing the page: a hand-edited URL should still open. Returns the window and the
    preset name used (``"custom"`` for a custom range).
    """
    start_s, end_s = url_seconds(params.get("start", "")), url_seconds(params.get("end", ""))
    if start_s is not None and end_s is not None:
        start, end = start_s // 60 * 60, -(-end_s // 60) * 60
        if start < end:
            tenant = params.get("tenant") or None
            window = Window(start, end, tenant, bucket_seconds(end - start))
            return _with_versions(window, params), CUSTOM
    preset = params.get("range", DEFAULT_RANGE)
    if preset not in RANGES:
        preset = DEFAULT_RANGE
    length, bucket = RANGES[preset]
    # The current minute is included, so data written seconds ago shows up.
    end = end_s // 60 * 60 if end_s is not None else _minute_ceiling(now or time.time())
    tenant = params.get("tenant") or None
    window = Window(start=end - length, end=end, tenant=tenant, bucket=bucket)
    return _with_versions(window, params), preset


def url_seconds(param: str) -> int | None:
    """A URL's Unix seconds, None unless written in digits within what the stores hold.

    The stores keep times as nanoseconds in 64 bits (until 2262): a later end failed every
    query of the page with an overflow.
    """
    if not param.isdecimal():
        return None
    seconds = int(param)
    return seconds if seconds <= _MAX_SECONDS else None


_MAX_SECONDS = MAX_NS // 1_000_000_000 // 60 * 60  # a whole minute: ends round up to one


def _with_versions(window: Window, params: Mapping[str, str]) -> Window:
    """The ``version`` (service) and ``prompt`` (prompt version) URL filters."""
    return replace(
        window,
        service_version=params.get("version") or None,
        prompt_version=params.get("prompt") or None,
    )


def calendar_starts(now: float) -> tuple[int, int]:
    """Unix seconds of the start of today and of this month, in UTC."""
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(today.timestamp()), int(today.replace(day=1).timestamp())
