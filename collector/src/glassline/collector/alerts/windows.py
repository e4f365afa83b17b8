"""Evaluation windows: rolling, or calendar day / month in a time zone, in Unix seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Span", "budget_window", "rolling"]


@dataclass(frozen=True, slots=True)
class Span:
    """``[start, end)`` in Unix seconds; ``full_end`` is where a calendar window closes."""

    start: int
    end: int
    full_end: int

    @property
    def elapsed(self) -> int:
        return max(1, self.end - self.start)


def _through(now: datetime) -> int:
    """``now`` as an exclusive end in whole seconds: rounded up, never down.

    Windows take the rollup minutes that start before their end: truncating 12:05:00.4 to
    12:05:00 would leave out the minute that is being written, all of it, for one second in
    every sixty, so a budget could read half of what was just acknowledged.
    """
    return math.ceil(now.timestamp())


def rolling(now: datetime, length: timedelta, offset: timedelta = timedelta(0)) -> Span:
    end = _through(now - offset)
    start = end - int(length.total_seconds())
    return Span(start, end, end)


def budget_window(now: datetime, window: str, timezone: str) -> Span:
    """The window a budget rule sums spend over at ``now``."""
    if window == "1h":
        return rolling(now, timedelta(hours=1))
    if window == "24h":
        return rolling(now, timedelta(hours=24))
    local = now.astimezone(ZoneInfo(timezone))
    if window == "calendar_day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        # Aware-datetime arithmetic is wall-clock: +1 day is the next local midnight, even
        # across a DST change; timestamp() then applies that day's offset.
        end = start + timedelta(days=1)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
    return Span(int(start.timestamp()), _through(now), int(end.timestamp()))
