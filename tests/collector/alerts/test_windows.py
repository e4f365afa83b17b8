"""Budget windows: rolling, or calendar day / month in the rule's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from glassline.collector.alerts.windows import budget_window


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_rolling_windows_end_now_rounded_up_to_the_second() -> None:
    now = datetime(2026, 11, 10, 12, 30, 0, 400_000, tzinfo=UTC)
    assert budget_window(now, "1h", "UTC") == budget_window(now, "1h", "Asia/Tokyo")
    span = budget_window(now, "24h", "UTC")
    assert (span.start, span.end) == (ts(2026, 11, 9, 12, 30, 1), ts(2026, 11, 10, 12, 30, 1))


def test_calendar_day_follows_the_time_zone_and_dst() -> None:
    # 2026-03-29 in Paris has 23 hours (clocks go forward at 02:00).
    now = datetime(2026, 3, 29, 20, 0, tzinfo=UTC)
    span = budget_window(now, "calendar_day", "Europe/Paris")
    assert span.start == ts(2026, 3, 28, 23, 0)  # local midnight, UTC+1
    assert span.full_end == ts(2026, 3, 29, 22, 0)  # next local midnight, UTC+2
    assert span.end == int(now.timestamp())


def test_calendar_month_starts_on_the_first_in_the_time_zone() -> None:
    now = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # already December 1st in Tokyo
    span = budget_window(now, "calendar_month", "Asia/Tokyo")
    assert (span.start, span.full_end) == (ts(2026, 11, 30, 15, 0), ts(2026, 12, 31, 15, 0))
    utc = budget_window(now, "calendar_month", "UTC")
    assert (utc.start, utc.full_end) == (ts(2026, 11, 1), ts(2026, 12, 1))
