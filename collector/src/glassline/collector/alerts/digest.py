"""The daily digest: per tenant, yesterday's trends versus the day before and a week before.

Sent once per tenant and local day, after ``digest.hour``: the ``alert_digests`` primary key
is the claim, so replicas and restarts never send a day twice. A pass claims only as many as
it may build and queue (the engine says how many); the other tenants wait for the next pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError

from glassline.collector.alerts.config import DigestConfig, Filters
from glassline.collector.alerts.models import AlertDigest, AlertEvent
from glassline.collector.alerts.queries import Totals, latency_sketches, totals
from glassline.collector.storage.models import Rollup
from glassline.pricing import format_usd

__all__ = ["build_digest", "due_digests"]

PAYLOAD_VERSION = "1"


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return int(start.timestamp()), int(end.timestamp())


def due_digests(
    engine: Engine, settings: DigestConfig, now: datetime, holder: str, *, limit: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Digests of yesterday not yet sent by anyone, claimed for this ``holder``: at most
    ``limit`` of them (the first tenants by name), the others left for a later call."""
    if limit is not None and limit <= 0:
        return []
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    if local.hour < settings.hour:
        return []
    day = local.date() - timedelta(days=1)
    start, end = _day_bounds(day, tz)
    out = []
    with engine.connect() as conn:
        active = conn.scalars(
            select(Rollup.tenant).distinct().where(Rollup.minute >= start, Rollup.minute < end)
        ).all()
        sent = set(
            conn.scalars(select(AlertDigest.tenant).where(AlertDigest.day == day.isoformat()))
        )
        due = sorted(set(active) - sent)[:limit]
        bodies = [(t, build_digest(conn, t, day, tz)) for t in due]
    for tenant, body in bodies:
        try:
            with engine.begin() as conn:
                conn.execute(
                    AlertDigest.__table__.insert().values(
                        tenant=tenant,
                        day=day.isoformat(),
                        sent_at=int(now.timestamp()),
                        holder=holder,
                    )
                )
        except IntegrityError:
            continue  # another replica claimed it between our read and insert
        out.append((tenant, body))
    return out


_PERIODS = (("day", 0), ("previous_day", 1), ("week_ago", 7))  # days before the digest day


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 6) if b else None


class _TenantDay:
    """The rollup queries of one tenant's digest day (and the days it is compared with)."""

    def __init__(self, conn: Connection, tenant: str, day: date, tz: ZoneInfo) -> None:
        self.conn, self.tenant, self.day, self.tz = conn, tenant, day, tz
        self.only = Filters(tenant=[tenant])
        self.start, self.end = _day_bounds(day, tz)

    def compare(self, fn: Callable[[int, int], Any]) -> dict[str, Any]:
        """``fn(start, end)`` for the day, the previous day and the same day a week before."""
        return {
            label: fn(*_day_bounds(self.day - timedelta(days=back), self.tz))
            for label, back in _PERIODS
        }

    def llm(self, start: int, end: int) -> Totals:
        found = totals(self.conn, start, end, self.only, [], ["llm"])
        return found.get((("tenant", self.tenant),), Totals())

    def every(self, start: int, end: int) -> Totals:
        found = totals(self.conn, start, end, self.only, [])
        return found.get((("tenant", self.tenant),), Totals())

    def spend_by(self, dim: str) -> list[dict[str, Any]]:
        def costs(start: int, end: int) -> dict[str, float]:
            found = totals(self.conn, start, end, self.only, [dim])
            return {dict(k)[dim]: t.cost_usd for k, t in found.items()}

        periods = self.compare(costs)
        spenders = {n for p in periods.values() for n, cost in p.items() if cost}
        names = sorted(spenders, key=lambda n: (-periods["day"].get(n, 0.0), n))
        return [
            {dim: name, **{p: round(v.get(name, 0.0), 6) for p, v in periods.items()}}
            for name in names
        ]

    def p95_by_stage(self) -> dict[str, float]:
        found = latency_sketches(self.conn, self.start, self.end, self.only, ["stage"], ["stage"])
        return {
            dict(k)["stage"]: round(float(s.get_quantile_value(0.95) or 0.0), 3)
            for k, s in sorted(found.items())
            if s.count
        }

    def rules_fired(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(AlertEvent.rule, func.count())
            .where(AlertEvent.tenant == self.tenant, AlertEvent.to_state == "firing")
            .where(AlertEvent.at >= self.start, AlertEvent.at < self.end)
            .group_by(AlertEvent.rule)
            .order_by(AlertEvent.rule)
        ).all()
        return [{"rule": rule, "times": times} for rule, times in rows]


def build_digest(conn: Connection, tenant: str, day: date, tz: ZoneInfo) -> dict[str, Any]:
    """The digest body for ``tenant`` and local ``day``."""
    q = _TenantDay(conn, tenant, day, tz)
    calls, all_kinds = q.llm(q.start, q.end), q.every(q.start, q.end)
    body: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "type": "digest",
        "tenant": tenant,
        "day": day.isoformat(),
        "timezone": tz.key,
        "spend_usd": q.compare(lambda s, e: round(q.every(s, e).cost_usd, 6)),
        "spend_by_model": q.spend_by("model"),
        "spend_by_stage": q.spend_by("stage"),
        "tokens_per_request": q.compare(lambda s, e: _ratio(q.llm(s, e).tokens, q.llm(s, e).count)),
        "requests": calls.count,
        "p95_ms_by_stage": q.p95_by_stage(),
        "cache_hit_rate": _ratio(all_kinds.cache_hits, all_kinds.cache_lookups),
        "error_rate": _ratio(calls.errors, calls.count),
        "retry_rate": _ratio(all_kinds.retries, calls.count),
        "rules_fired": q.rules_fired(),
    }
    body["text"] = digest_text(body)
    return body


def _pct(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{(a - b) / b * 100:+.0f}%"


def digest_text(body: dict[str, Any]) -> str:
    """A short human summary (the Slack message and the log line)."""
    spend, tpr = body["spend_usd"], body["tokens_per_request"]
    lines = [
        f"Glassline daily digest for {body['tenant']} ({body['day']})",
        f"Spend {format_usd(spend['day'])} ({_pct(spend['day'], spend['previous_day'])} vs previous day, "
        f"{_pct(spend['day'], spend['week_ago'])} vs a week ago)",
    ]
    for row in body["spend_by_model"][:5]:
        lines.append(f"  model {row['model'] or '(none)'}: {format_usd(row['day'])}")
    lines.append(
        f"Tokens/request {tpr['day'] or 0:.0f} ({_pct(tpr['day'], tpr['week_ago'])} vs a week ago)"
    )
    if body["p95_ms_by_stage"]:
        p95 = ", ".join(f"{k or '(none)'} {v:.0f} ms" for k, v in body["p95_ms_by_stage"].items())
        lines.append(f"p95 by stage: {p95}")
    rates = ("cache_hit_rate", "error_rate", "retry_rate")
    lines.append(", ".join(f"{r.replace('_', ' ')} {_rate(body[r])}" for r in rates))
    fired = ", ".join(f"{f['rule']} x{f['times']}" for f in body["rules_fired"]) or "none"
    lines.append(f"Rules fired: {fired}")
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
