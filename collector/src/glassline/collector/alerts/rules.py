"""Rule evaluation: one function per rule kind, from rollup aggregates to observations.

An :class:`Observation` is one key's measured value against its threshold and whether it
breaches; the state machine turns observations into pending / firing / resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts import quality, slo
from glassline.collector.alerts.models import FIRING, PENDING, AlertState
from glassline.collector.alerts.observation import Observation, compare, default_span_kinds
from glassline.collector.alerts.queries import (
    Key,
    Totals,
    key_dims,
    key_ident,
    latency_sketches,
    totals,
)
from glassline.collector.alerts.windows import Span, budget_window, rolling
from glassline.pricing import format_usd

__all__ = ["Observation", "budget_floor", "budget_forecast", "evaluate_rule"]

_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def evaluate_rule(rule: cfg.Rule, conn: Connection, now: datetime) -> list[Observation]:
    """Every observed key of ``rule`` at ``now`` (breaching or not); a ``per`` budget's keys
    under its lowest level are observed only while their alert is pending or firing."""
    return _EVALUATORS[rule.kind](rule, conn, now)


def _budget(rule: cfg.BudgetRule, conn: Connection, now: datetime) -> list[Observation]:
    span = budget_window(now, rule.window, rule.timezone)
    found = totals(
        conn, span.start, span.end, rule.filters, rule.per, min_cost_usd=budget_floor(rule, 1.0)
    )
    if _active_keys(conn, rule) - {key_ident(key) for key in found}:
        # An alert about to resolve: its key is under the floor now, and its resolution
        # carries the spend it came down to.
        found = totals(conn, span.start, span.end, rule.filters, rule.per)
    recent = budget_recent_spend(conn, rule, span, rule.filters, found)
    return [
        budget_observation(rule, key, t.cost_usd, span, recent.get(key, 0.0))
        for key, t in found.items()
    ]


def budget_floor(rule: cfg.BudgetRule, share: float) -> float:
    """The spend under which the keys of a ``per`` budget are not read: ``share`` of its
    lowest level (warn, else limit). The engine reads from the lowest level (share 1): a
    per-user budget read every user with spend on every pass, 3.5 s at 100,000 users, to
    find the few over it. A budget without ``per`` is always read."""
    lowest = rule.limit_usd if rule.warn_usd is None else min(rule.limit_usd, rule.warn_usd)
    return share * lowest if rule.per else 0.0


def _active_keys(conn: Connection, rule: cfg.BudgetRule) -> set[tuple[str, str]]:
    """(tenant, key) of the rule's pending and firing alerts."""
    table = AlertState.__table__.c
    query = select(table.tenant, table.key).where(
        table.rule == rule.name, table.state.in_((PENDING, FIRING))
    )
    return {(tenant, key) for tenant, key in conn.execute(query)}


# A forecast extrapolates a key's recent spend: read for the keys found only, named in the
# query, up to this many users (beyond it, for every key).
_NAMED_USERS = 10_000


def budget_recent_spend(
    conn: Connection,
    rule: cfg.BudgetRule,
    span: Span,
    filters: cfg.Filters,
    keys: Mapping[Key, Any] | None = None,
) -> dict[Key, float]:
    """Spend per key in the last twelfth of a rolling window (the burn rate a forecast
    extrapolates); empty for calendar windows, whose forecast uses the rate since they opened.
    ``keys``: the keys it is needed for (default: every key)."""
    if rule.window not in _ROLLING or (keys is not None and not keys):
        return {}
    if keys is not None and rule.per == ["user"] and len(keys) <= _NAMED_USERS:
        filters = filters.model_copy(update={"user": [key_dims(k)["user"] for k in keys]})
    found = totals(conn, span.end - _ROLLING[rule.window], span.end, filters, rule.per)
    return {key: t.cost_usd for key, t in found.items()}


def budget_observation(
    rule: cfg.BudgetRule, key: Key, spend: float, span: Span, recent_spend: float | None = None
) -> Observation:
    critical = spend >= rule.limit_usd
    warned = rule.warn_usd is not None and spend >= rule.warn_usd
    threshold = rule.limit_usd if critical or rule.warn_usd is None else rule.warn_usd
    exhaustion, text = budget_forecast(rule, spend, span, recent_spend)
    return Observation(
        key=key,
        value=round(spend, 6),
        threshold=threshold,
        breached=critical or warned,
        severity="critical" if critical else "warning",
        window=span,
        extra={"forecast": text, "forecast_exhaustion": exhaustion, "spend_usd": spend},
    )


_FORECAST_HORIZON_S = 366 * 86400
# The recent part of a rolling window whose burn rate a forecast extrapolates: a twelfth.
_ROLLING = {"1h": 300, "24h": 2 * 3600}


def budget_forecast(
    rule: cfg.BudgetRule, spend: float, span: Span, recent_spend: float | None = None
) -> tuple[int | None, str]:
    """(Unix time the limit is reached at the current burn rate, or None; a sentence).

    A calendar window only fills: its rate is the spend since it opened. A rolling window
    also empties, the oldest spend falling out of it as time goes by: at a steady rate it
    levels off at rate x window, so its limit is reached only when the recent rate (the last
    twelfth of the window, ``recent_spend``; without it, the window's average) outruns it.
    """
    if spend >= rule.limit_usd:
        return None, f"the {rule.window} budget of {format_usd(rule.limit_usd)} is exhausted"
    if rule.window in _ROLLING:
        return _rolling_forecast(rule, spend, span, recent_spend)
    rate = spend / span.elapsed  # USD per second since the window opened
    if rate <= 0:
        return None, "no spend yet in this window"
    seconds_left = (rule.limit_usd - spend) / rate
    per_hour = _per_hour(rate)
    if seconds_left > _FORECAST_HORIZON_S:  # a tiny spend against a huge limit: no date to give
        return None, f"at {per_hour} the {rule.window} limit is not reached within a year"
    at = span.end + int(seconds_left)
    if at >= span.full_end:
        return None, f"at {per_hour} the {rule.window} budget lasts the whole period"
    local = datetime.fromtimestamp(at).astimezone(ZoneInfo(rule.timezone))
    period = "monthly" if rule.window == "calendar_month" else "daily"
    when = f"on day {local.day}" if period == "monthly" else f"at {local:%H:%M}"
    return at, f"at this rate the {period} budget is exhausted {when} ({local:%Y-%m-%d %H:%M %Z})"


def _rolling_forecast(
    rule: cfg.BudgetRule, spend: float, span: Span, recent_spend: float | None
) -> tuple[int | None, str]:
    length, recent_s = span.elapsed, _ROLLING[rule.window]
    recent = spend * recent_s / length if recent_spend is None else min(recent_spend, spend)
    rate = recent / recent_s  # USD per second, lately
    if rate <= 0:
        return None, "no spend lately in this window"
    per_hour = _per_hour(rate)
    level = rate * length  # where the window's spend settles at this rate
    if level < rule.limit_usd:
        return None, (
            f"at {per_hour} the {rule.window} spend levels off near {format_usd(level)}, "
            f"under the {format_usd(rule.limit_usd)} limit"
        )
    # Until the window has turned over, it gains the recent rate and loses its older spend
    # at that spend's own average rate; level >= limit > spend makes the difference positive.
    leaving = (spend - recent) / max(1, length - recent_s)
    at = span.end + int((rule.limit_usd - spend) / (rate - leaving))
    return at, f"at {per_hour} the {rule.window} limit is reached in {_human(at - span.end)}"


def _per_hour(rate: float) -> str:
    """A rate in USD per second as dollars an hour."""
    return f"{format_usd(rate * 3600)}/h"


def _human(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(1, seconds // 60)} minutes"


def _latency(rule: cfg.LatencyRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    q = _QUANTILES[rule.quantile]
    kinds = default_span_kinds(rule)
    out = []
    for key, merged in latency_sketches(
        conn, span.start, span.end, rule.filters, rule.per, kinds
    ).items():
        if merged.count < rule.min_count:
            continue
        value = float(merged.get_quantile_value(q) or 0.0)
        out.append(
            compare(key, round(value, 3), rule.threshold_ms, rule.severity, span, above=True)
        )
    return out


def _error_rate(rule: cfg.ErrorRateRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    found = totals(conn, span.start, span.end, rule.filters, rule.per, default_span_kinds(rule))
    out = []
    for key, t in found.items():
        if t.count >= rule.min_requests:
            ratio = round(t.errors / t.count, 6)
            out.append(
                compare(key, ratio, rule.threshold, rule.severity, span, above=True, count=t.count)
            )
    return out


def _rates(rule: Any, conn: Connection, w: Span) -> dict[Key, tuple[float, int]]:
    """(rate, denominator) per key with enough data: cache hits / lookups or retries / calls."""
    kinds = default_span_kinds(rule)
    found = totals(conn, w.start, w.end, rule.filters, rule.per, kinds)
    if rule.kind == "cache_hit_rate":
        return {
            k: (t.cache_hits / t.cache_lookups, t.cache_lookups)
            for k, t in found.items()
            if t.cache_lookups >= rule.min_lookups
        }
    # Retries are counted on the span that wrapped the attempts, whatever its kind, so the
    # numerator reads every kind while the requests are the LLM calls.
    every = rule.filters.model_copy(update={"span_kind": None})
    retries = totals(conn, w.start, w.end, every, rule.per, None)
    return {
        k: (retries.get(k, Totals()).retries / t.count, t.count)
        for k, t in found.items()
        if t.count >= rule.min_requests
    }


def _rate_rule(rule: Any, conn: Connection, now: datetime) -> list[Observation]:
    """cache_hit_rate (fires below) and retry_rate (fires above), absolute and/or relative."""
    span = rolling(now, rule.window)
    current = _rates(rule, conn, span)
    relative = rule.drop if rule.kind == "cache_hit_rate" else rule.factor
    baseline = (
        _rates(rule, conn, rolling(now, rule.window, rule.baseline.offset)) if relative else {}
    )
    above = rule.kind == "retry_rate"
    absolute = rule.above if above else rule.below
    out = []
    for key, (rate, _) in current.items():
        candidates = [] if absolute is None else [absolute]
        base = baseline.get(key)
        if base is not None and relative is not None:
            candidates.append(base[0] * relative if above else base[0] * (1 - relative))
        if not candidates:
            continue  # only a relative threshold and no baseline data for this key
        # Either condition fires: the lowest "above" / the highest "below" threshold.
        threshold = round(min(candidates) if above else max(candidates), 6)
        extra = {"baseline": round(base[0], 6)} if base is not None else {}
        out.append(
            compare(key, round(rate, 6), threshold, rule.severity, span, above=above, **extra)
        )
    return out


def _metric(metric: str, t: Totals) -> float:
    if metric == "cost":
        return t.cost_usd
    if metric == "requests":
        return float(t.count)
    return t.tokens / t.count if t.count else 0.0


def _spike(rule: cfg.SpikeRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    kinds = default_span_kinds(rule)
    current = totals(conn, span.start, span.end, rule.filters, rule.per, kinds)
    baselines = _baselines(rule, conn, now, kinds)
    out = []
    for key, t in current.items():
        base = baselines.get(key)
        if t.count < rule.min_requests or base is None or base <= rule.min_baseline or base <= 0:
            continue
        value = round(_metric(rule.metric, t), 6)
        threshold = round(base * rule.factor, 6)
        out.append(compare(key, value, threshold, rule.severity, span, above=True, baseline=base))
    return out


def _baselines(
    rule: cfg.SpikeRule, conn: Connection, now: datetime, kinds: list[str] | None
) -> dict[Key, float]:
    def window_values(offset: timedelta) -> dict[Key, float]:
        w = rolling(now, rule.window, offset)
        found = totals(conn, w.start, w.end, rule.filters, rule.per, kinds)
        return {k: _metric(rule.metric, t) for k, t in found.items()}

    if isinstance(rule.baseline, cfg.OffsetBaseline):
        return window_values(rule.baseline.offset)
    # EWMA over the preceding windows, oldest first; a key absent from a window counts as 0.
    periods = [window_values(rule.window * i) for i in range(rule.baseline.periods, 0, -1)]
    keys = {k for p in periods for k in p}
    alpha = rule.baseline.alpha
    out: dict[Key, float] = {}
    for key in keys:
        ewma: float | None = None
        for p in periods:
            v = p.get(key, 0.0)
            ewma = v if ewma is None else alpha * v + (1 - alpha) * ewma
        out[key] = ewma or 0.0
    return out


def _absent(rule: cfg.AbsentRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    kinds = default_span_kinds(rule)
    seen = totals(
        conn,
        span.start - int(rule.lookback.total_seconds()),
        span.start,
        rule.filters,
        rule.per,
        kinds,
    )
    current = totals(conn, span.start, span.end, rule.filters, rule.per, kinds)
    keys: set[Key] = set(seen) | set(current) | set(_named_keys(rule))
    out = []
    for key in sorted(keys):
        count = float(current.get(key, Totals()).count)
        out.append(Observation(key, count, 0.0, count == 0, rule.severity, span))
    return out


def _named_keys(rule: cfg.AbsentRule) -> Iterable[Key]:
    """Keys spelled out completely by the filters are expected even if never seen."""
    tenants = rule.filters.tenant or []
    combos: list[list[tuple[str, str]]] = [[("tenant", t)] for t in tenants]
    for dim in rule.per:
        values = getattr(rule.filters, dim)
        if not values:
            return []
        combos = [[*c, (dim, v)] for c in combos for v in values]
    return [tuple(sorted(c)) for c in combos]


_EVALUATORS: dict[str, Callable[[Any, Connection, datetime], list[Observation]]] = {
    "budget": _budget,
    "latency": _latency,
    "error_rate": _error_rate,
    "cache_hit_rate": _rate_rule,
    "retry_rate": _rate_rule,
    "spike": _spike,
    "absent": _absent,
    **quality.EVALUATORS,
    **slo.EVALUATORS,
}
