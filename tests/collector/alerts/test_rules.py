"""Each rule kind, evaluated on rollups filled by real ``store.write`` calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.alerts.rules import Observation, budget_forecast, evaluate_rule
from glassline.collector.alerts.windows import Span as Window
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import T0


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


Span = Callable[..., SpanRecord]


def observe(store: Store, rule: dict[str, Any], now: datetime = T0) -> dict[str, Observation]:
    """Observations keyed ``tenant/<dimension>`` (the tenant first)."""
    config = parse_config({"rules": [{"name": "r", **rule}]})
    with store.engine.connect() as conn:
        found = evaluate_rule(config.rules[0], conn, now)
    return {
        "/".join(v for _, v in sorted(o.key, key=lambda kv: kv[0] != "tenant")): o for o in found
    }


def test_latency_rule_fires_on_slow_spans_of_one_model(store: Store, span: Span) -> None:
    at = T0 - timedelta(minutes=2)
    store.write([span("acme", at, model="slow-1", duration_ms=2500) for _ in range(20)])
    store.write([span("acme", at, model="fast-1", duration_ms=80) for _ in range(20)])
    store.write([span("acme", at, kind="stage", stage="rag", duration_ms=9000)])
    got = observe(store, {"kind": "latency", "per": "model", "threshold_ms": 1000, "window": "5m"})
    assert set(got) == {"acme/fast-1", "acme/slow-1"}  # stage spans are not llm latency
    assert got["acme/slow-1"].breached and got["acme/slow-1"].value == pytest.approx(2500, rel=0.02)
    assert not got["acme/fast-1"].breached


def test_latency_per_stage_reads_stage_spans(store: Store, span: Span) -> None:
    at = T0 - timedelta(minutes=1)
    store.write(
        [
            span("acme", at, kind="stage", stage="retrieve", duration_ms=d)
            for d in range(100, 2100, 100)
        ]
    )
    got = observe(
        store, {"kind": "latency", "per": "stage", "quantile": "p50", "threshold_ms": 500}
    )
    assert got["acme/retrieve"].value == pytest.approx(1000, rel=0.05)
    assert got["acme/retrieve"].breached


def test_error_rate_respects_min_requests(store: Store, span: Span) -> None:
    rule = {"kind": "error_rate", "threshold": 0.1, "min_requests": 10}
    at = T0 - timedelta(minutes=1)
    store.write([span("acme", at, status="error") for _ in range(5)])
    assert observe(store, rule) == {}  # 5 failures of 5, but too few requests to judge
    store.write([span("acme", at) for _ in range(10)])
    got = observe(store, rule)["acme"]
    assert got.breached and got.value == pytest.approx(5 / 15, abs=1e-6)


def test_spike_against_same_window_a_day_earlier(store: Store, span: Span) -> None:
    now = T0
    store.write([span("acme", now - timedelta(days=1, minutes=10), cost_usd=1.0)])
    store.write([span("acme", now - timedelta(minutes=10), cost_usd=1.0) for _ in range(4)])
    rule = {
        "kind": "spike",
        "metric": "cost",
        "factor": 3,
        "baseline": {"type": "offset", "offset": "1d"},
    }
    got = observe(store, rule, now)["acme"]
    assert got.breached and got.value == 4.0 and got.threshold == 3.0


def test_spike_against_ewma_of_preceding_windows(store: Store, span: Span) -> None:
    for hours in range(1, 4):  # one request an hour for the three preceding windows
        store.write([span("acme", T0 - timedelta(hours=hours, minutes=30))])
    store.write([span("acme", T0 - timedelta(minutes=30)) for _ in range(2)])
    rule = {
        "kind": "spike",
        "metric": "requests",
        "window": "1h",
        "factor": 1.5,
        "baseline": {"type": "ewma", "alpha": 0.5, "periods": 3},
    }
    got = observe(store, rule)["acme"]
    assert (got.value, got.threshold, got.breached) == (2.0, 1.5, True)


def test_tokens_per_request_spike(store: Store, span: Span) -> None:
    store.write(
        [span("acme", T0 - timedelta(days=7, minutes=5), input_tokens=100, output_tokens=0)]
    )
    store.write([span("acme", T0 - timedelta(minutes=5), input_tokens=250, output_tokens=50)])
    rule = {
        "kind": "spike",
        "metric": "tokens_per_request",
        "factor": 2,
        "baseline": {"type": "offset", "offset": "1w"},
    }
    got = observe(store, rule)["acme"]
    assert (got.value, got.threshold, got.breached) == (300.0, 200.0, True)


def test_cache_hit_rate_drop_and_retry_rate_rise(store: Store, span: Span) -> None:
    at = T0 - timedelta(minutes=3)
    store.write([span("acme", at, kind="other", cache_hit=i < 2) for i in range(10)])
    store.write([span("acme", at, retries=1 if i < 3 else 0) for i in range(10)])
    cache = observe(store, {"kind": "cache_hit_rate", "below": 0.5, "min_lookups": 5})["acme"]
    assert (cache.value, cache.breached) == (0.2, True)
    retry = observe(store, {"kind": "retry_rate", "above": 0.2, "min_requests": 5})["acme"]
    assert (retry.value, retry.breached) == (0.3, True)


def test_absent_fires_for_a_key_seen_before_but_silent_now(store: Store, span: Span) -> None:
    store.write([span("acme", T0 - timedelta(hours=2), stage="rag")])
    store.write([span("acme", T0 - timedelta(minutes=2), stage="chat")])
    got = observe(store, {"kind": "absent", "per": "stage", "window": "10m"})
    assert {k: o.breached for k, o in got.items()} == {"acme/chat": False, "acme/rag": True}
    named = observe(store, {"kind": "absent", "window": "10m", "filters": {"tenant": ["ghost"]}})
    assert named["ghost"].breached  # named in the filters: expected even if never seen


def test_filters_restrict_the_rows(store: Store, span: Span) -> None:
    at = T0 - timedelta(minutes=5)
    store.write([span("acme", at, model="a", route="cheap", cost_usd=2.0)])
    store.write([span("acme", at, model="b", route="premium", cost_usd=7.0)])
    store.write([span("zeta", at, model="b", route="premium", cost_usd=9.0)])
    rule = {
        "kind": "budget",
        "window": "1h",
        "limit_usd": 5,
        "filters": {"route": "premium", "tenant": "acme"},
    }
    got = observe(store, rule)
    assert {k: o.value for k, o in got.items()} == {"acme": 7.0}


def test_per_user_budget_reads_user_rollups_of_the_users_over_its_lowest_level(
    store: Store, span: Span
) -> None:
    # Every user with spend was read on every pass: 3.5 s at 100,000 users, to find the few
    # over the budget.
    at = T0 - timedelta(minutes=5)
    store.write([span("acme", at, user_id="u1", cost_usd=3.0, parent=None)])
    store.write([span("acme", at, user_id="u2", cost_usd=8.0, parent=None)])
    store.write([span("acme", at, user_id="u3", cost_usd=4.0, parent=None)])
    rule = {"kind": "budget", "window": "24h", "limit_usd": 5, "warn_usd": 4, "per": "user"}
    got = observe(store, rule)
    assert {k: (o.value, o.breached) for k, o in got.items()} == {
        "acme/u2": (8.0, True),
        "acme/u3": (4.0, True),
    }


def test_a_per_user_alert_resolves_with_the_spend_its_user_came_down_to(
    store: Store, span: Span
) -> None:
    rules = [{"name": "u", "kind": "budget", "window": "1h", "limit_usd": 5, "per": "user"}]
    engine = AlertEngine(store, parse_config({"rules": rules}))
    try:
        store.write([span("acme", T0 - timedelta(minutes=50), user_id="u1", cost_usd=8.0)])
        store.write([span("acme", T0 - timedelta(minutes=5), user_id="u1", cost_usd=2.0)])
        fired = engine.evaluate_once(T0).transitions
        assert [(t.key, t.to_state, t.value) for t in fired] == [
            ("user=u1", "pending", 10.0),
            ("user=u1", "firing", 10.0),
        ]
        # 15 minutes on, the $8 has left the hour: $2 is under the floor, yet read.
        resolved = engine.evaluate_once(T0 + timedelta(minutes=15)).transitions
        assert [(t.key, t.to_state, t.value) for t in resolved] == [("user=u1", "resolved", 2.0)]
    finally:
        engine.close()


def test_calendar_month_budget_in_a_time_zone_forecasts_the_day(store: Store, span: Span) -> None:
    # 2026-11-10 12:00 UTC; in Tokyo the month began 2026-11-01 00:00 JST (= 10-31 15:00 UTC).
    store.write(
        [span("acme", datetime(2026, 10, 31, 14, 0, tzinfo=UTC), cost_usd=50.0)]
    )  # October in Tokyo
    store.write([span("acme", datetime(2026, 10, 31, 16, 0, tzinfo=UTC), cost_usd=30.0)])
    rule = {
        "kind": "budget",
        "window": "calendar_month",
        "timezone": "Asia/Tokyo",
        "limit_usd": 90,
        "warn_usd": 20,
    }
    got = observe(store, rule)["acme"]
    assert got.value == 30.0 and got.severity == "warning" and got.threshold == 20.0
    # $30 in 9.875 days -> $90 after 29.6 days: on day 30 of November, Tokyo time.
    assert "exhausted on day 30" in got.extra["forecast"]
    exhaustion = datetime.fromtimestamp(got.extra["forecast_exhaustion"], UTC)
    assert exhaustion == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # 15:00 on the 30th in Tokyo


def test_a_rolling_budget_forecasts_from_the_recent_rate_and_what_leaves_the_window(
    store: Store, span: Span
) -> None:
    # The `make demo` incident: $0.10 forty minutes ago, then $0.25 in the last five minutes.
    # Spread over the whole hour that read "$0.35/h: the limit is reached in 1.9 hours"; the
    # last five minutes burn $3/h, and the old $0.10 leaves the window meanwhile.
    store.write([span("acme", T0 - timedelta(minutes=40), cost_usd=0.10)])
    store.write([span("acme", T0 - timedelta(minutes=2), cost_usd=0.25)])
    got = observe(store, {"kind": "budget", "window": "1h", "limit_usd": 1})["acme"]
    assert got.value == pytest.approx(0.35)
    seconds = 0.65 / (0.25 / 300 - 0.10 / 3300)  # 809 s
    assert got.extra["forecast_exhaustion"] == pytest.approx(T0.timestamp() + seconds, abs=1)
    assert got.extra["forecast"] == "at $3.00/h the 1h limit is reached in 13 minutes"


def test_a_steady_burn_under_a_rolling_limit_levels_off_and_is_never_exhausted(
    store: Store, span: Span
) -> None:
    # $0.05 every five minutes: the rolling hour holds $0.60 and stays there. The window's
    # own average once said "at $0.60/h the 1h limit is reached in 40 minutes".
    store.write(
        [span("acme", T0 - timedelta(minutes=5 * k + 2.5), cost_usd=0.05) for k in range(12)]
    )
    got = observe(store, {"kind": "budget", "window": "1h", "limit_usd": 1})["acme"]
    assert got.value == pytest.approx(0.60)
    assert got.extra["forecast_exhaustion"] is None
    level = "at $0.60/h the 1h spend levels off near $0.60, under the $1.00 limit"
    assert got.extra["forecast"] == level


def test_long_windows_sum_hourly_rollups_and_minute_edges_exactly(store: Store, span: Span) -> None:
    # Spans every 97 minutes over ten days: month-to-date mixes whole hours and ragged minutes.
    now = datetime(2026, 11, 10, 12, 34, 56, tzinfo=UTC)
    start = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    spans, expected = [], 0.0
    for i in range(150):
        at = start + timedelta(minutes=97 * i, seconds=13)
        if at < now:
            cost = 0.25 * (1 + i % 7)
            spans.append(span("acme", at, cost_usd=cost))
            if at >= datetime(2026, 11, 1, tzinfo=UTC):
                expected += cost
    store.write(spans)
    got = observe(store, {"kind": "budget", "window": "calendar_month", "limit_usd": 1e6}, now)
    assert got["acme"].value == pytest.approx(expected, abs=1e-9)
    rolling = observe(store, {"kind": "budget", "window": "24h", "limit_usd": 1e6}, now)
    day_ago = now - timedelta(hours=24)
    in_day = [
        s.cost_usd
        for s in spans
        if day_ago.timestamp() // 60 * 60 <= s.start_ns / 1e9 < now.timestamp()
    ]
    assert rolling["acme"].value == pytest.approx(sum(in_day), abs=1e-9)


@pytest.mark.parametrize("window", ["1h", "24h", "calendar_day", "calendar_month"])
def test_spend_in_the_first_second_of_a_minute_counts_at_once(
    store: Store, span: Span, window: str
) -> None:
    # Once seen in CI: read at 12:30:00.4, the minute 12:30 fell outside a window ending
    # at the truncated 12:30:00, and the budget showed half of what was acknowledged.
    minute = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
    store.write([
        span("acme", minute - timedelta(seconds=2), cost_usd=2.5),
        span("acme", minute + timedelta(milliseconds=200), cost_usd=2.5),
    ])  # fmt: skip
    rule = {"kind": "budget", "window": window, "limit_usd": 10}
    got = observe(store, rule, minute + timedelta(milliseconds=400))
    assert got["acme"].value == 5.0


def test_cache_hit_rate_drop_relative_to_the_day_before(store: Store, span: Span) -> None:
    day_before = T0 - timedelta(days=1, minutes=3)
    store.write([span("acme", day_before, kind="other", cache_hit=i < 8) for i in range(10)])
    store.write(
        [span("acme", T0 - timedelta(minutes=3), kind="other", cache_hit=i < 5) for i in range(10)]
    )
    rule = {"kind": "cache_hit_rate", "drop": 0.25, "min_lookups": 5}
    got = observe(store, rule)["acme"]
    # 0.5 now vs 0.8 a day earlier: more than 25% under it (threshold 0.8 * 0.75 = 0.6).
    assert (got.value, got.threshold, got.breached, got.extra["baseline"]) == (0.5, 0.6, True, 0.8)


def test_retry_rate_rise_relative_to_a_week_before(store: Store, span: Span) -> None:
    week_before = T0 - timedelta(days=7, minutes=3)
    store.write([span("acme", week_before, retries=1 if i < 1 else 0) for i in range(10)])
    store.write(
        [span("acme", T0 - timedelta(minutes=3), retries=1 if i < 3 else 0) for i in range(10)]
    )
    rule = {
        "kind": "retry_rate",
        "factor": 2,
        "above": 0.9,
        "min_requests": 5,
        "baseline": {"type": "offset", "offset": "1w"},
    }
    got = observe(store, rule)["acme"]
    assert (got.value, got.threshold, got.breached) == (0.3, 0.2, True)  # 2 x 0.1 beats 0.9
    none_before = observe(store, {"kind": "retry_rate", "factor": 2, "min_requests": 5})
    assert none_before == {}  # relative only, and no traffic a day earlier: no verdict


def test_a_huge_budget_against_a_trickle_of_spend_gives_no_exhaustion_date() -> None:
    rule = {"name": "big", "kind": "budget", "window": "calendar_month", "limit_usd": 1_000_000}
    config = parse_config({"rules": [rule]})
    end = int(T0.timestamp())
    window = Window(end - 86400, end, end + 29 * 86400)
    at, sentence = budget_forecast(config.rules[0], 0.01, window)
    assert at is None
    assert "not reached within a year" in sentence
