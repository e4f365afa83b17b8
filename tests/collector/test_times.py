"""Times as API clients write them (times.py)."""

from __future__ import annotations

import pytest

from glassline.collector.records import MAX_NS
from glassline.collector.times import parse_time_ns


@pytest.mark.parametrize(
    ("written", "ns"),
    [
        (0, 0),
        (MAX_NS, MAX_NS),
        ("1790000000000000000", 1_790_000_000_000_000_000),
        ("2026-11-23T10:00:00Z", 1_795_428_000_000_000_000),
        ("2026-11-23T11:00:00+01:00", 1_795_428_000_000_000_000),
    ],
)
def test_nanoseconds_and_iso_times_with_an_offset_are_read(written: int | str, ns: int) -> None:
    assert parse_time_ns(written) == ns


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        (-1, "between 1970 and 2262"),
        (MAX_NS + 1, "between 1970 and 2262"),
        ("9" * 40, "between 1970 and 2262"),
        ("9999-12-31T23:59:59Z", "between 1970 and 2262"),
        ("0001-01-01T00:00:00Z", "between 1970 and 2262"),
        ("2026-11-23T10:00:00", "needs a UTC offset"),
        ("yesterday", "Unix nanoseconds or an ISO-8601 time"),
        ("1.5", "Unix nanoseconds or an ISO-8601 time"),
    ],
)
def test_a_time_the_stores_cannot_hold_says_why(written: int | str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_time_ns(written)
