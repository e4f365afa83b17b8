"""Times as API clients write them: Unix nanoseconds, or ISO-8601 with a UTC offset.

The one parser of the query API's ``start``/``end`` and of a posted evaluation's ``time``,
so every endpoint takes the same forms and refuses the same way. A time must fit the stores'
signed 64-bit nanosecond columns (1970 to 2262, :data:`~glassline.collector.records.MAX_NS`):
a larger one failed its query or insert with an overflow, a 500, on both databases.
"""

from __future__ import annotations

from datetime import datetime

from glassline.collector.records import MAX_NS

__all__ = ["parse_time_ns"]

_OUT_OF_RANGE = "must be a time between 1970 and 2262"


def parse_time_ns(value: int | str) -> int:
    """``value`` in Unix nanoseconds; a ``ValueError`` says what is wrong with it."""
    if isinstance(value, str):
        value = _digits_or_iso(value)
    if not 0 <= value <= MAX_NS:
        raise ValueError(_OUT_OF_RANGE)
    return value


def _digits_or_iso(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be Unix nanoseconds or an ISO-8601 time (2026-11-23T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("an ISO-8601 time needs a UTC offset (Z or +01:00)")
    try:
        return int(moment.timestamp() * 1e9)
    except (OverflowError, ValueError):  # a time the platform cannot represent
        raise ValueError(_OUT_OF_RANGE) from None
