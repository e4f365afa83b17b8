"""Time windows from URL parameters: presets, pinned ends, previous periods, calendar starts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from glassline.dashboard.window import (
    DEFAULT_RANGE,
    RANGES,
    Window,
    bucket_seconds,
    calendar_starts,
    window_from_params,
)

NOW = datetime(2026, 3, 15, 10, 30, 20, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("preset", list(RANGES))
def test_each_preset_ends_after_the_current_minute(preset: str):
    window, used = window_from_params({"range": preset}, now=NOW)
    assert used == preset
    assert window.end == int(NOW) // 60 * 60 + 60
    assert window.length == RANGES[preset][0]
    assert window.bucket == RANGES[preset][1]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"range": "1y"},
        {"range": "", "end": "soon"},
        {"end": "²"},
        # Past 2262, which no store holds in nanoseconds: each page's queries overflowed.
        {"end": "99999999999"},
        {"start": "0", "end": "9" * 30},
        {"start": "9" * 30, "end": "9" * 31},
    ],
)
def test_malformed_parameters_fall_back_to_the_default(params: dict[str, str]):
    window, used = window_from_params(params, now=NOW)
    assert used == DEFAULT_RANGE and window.tenant is None
    assert window.end == int(NOW) // 60 * 60 + 60


def test_the_last_minute_the_stores_hold_is_a_custom_range_still():
    window, used = window_from_params({"start": "9223372000", "end": "9223372020"}, now=NOW)
    assert used == "custom" and window.end * 10**9 <= 2**63 - 1


def test_pinned_end_keeps_a_shared_link_on_its_incident():
    window, _ = window_from_params({"range": "1h", "end": "1700000030", "tenant": "acme"}, now=NOW)
    assert (window.start, window.end, window.tenant) == (1699996380, 1699999980, "acme")


def test_previous_period_is_the_same_length_just_before():
    window = Window(start=1000 * 60, end=1060 * 60, tenant="acme")
    prev = window.previous()
    assert (prev.start, prev.end, prev.tenant) == (940 * 60, 1000 * 60, "acme")


def test_bucket_grows_with_the_window():
    assert bucket_seconds(3600) == 60 and bucket_seconds(7 * 86400) == 3600
    assert bucket_seconds(90 * 86400) == 86400


def test_calendar_starts_are_utc_midnight_and_first_of_month():
    day, month = calendar_starts(NOW)
    assert datetime.fromtimestamp(day, UTC) == datetime(2026, 3, 15, tzinfo=UTC)
    assert datetime.fromtimestamp(month, UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_partial_buckets_are_the_ones_a_window_cuts_or_that_are_still_being_written():
    day = 86400
    thirty, _ = window_from_params({"range": "30d"}, now=NOW)
    month = Window(thirty.start, thirty.end, bucket=day)
    # 10:31 on Feb 13 to 10:31 on Mar 15: both days are held in part (today is not over).
    first, today = month.start // day * day, int(NOW) // day * day
    assert month.partial_buckets(now=NOW) == {first, today}
    hour, _ = window_from_params({"range": "1h"}, now=NOW)
    assert hour.partial_buckets(now=NOW) == {hour.end - 60}  # only the minute being written
    # A shared link to a past incident, whole quarters of an hour: nothing is partial.
    past = Window(int(NOW) // 900 * 900 - 7200, int(NOW) // 900 * 900 - 3600, bucket=900)
    assert past.partial_buckets(now=NOW) == frozenset()
