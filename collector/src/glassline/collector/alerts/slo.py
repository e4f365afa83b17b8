"""The ``slo`` rule kind: error budgets and their burn rates, over the rollups.

A latency SLO's good calls are counted in the latency sketches, an evaluation SLO's in the
evaluation rollups (``min_score``: in their score sketches; else pass rates). Whole past days
and hours are counted once and kept (:mod:`kept_days`); only the minutes at a window's ends are
read again each pass. Counted before sampling, so a sampled-out request still burns budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select
from sqlalchemy.engine import Connection

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.kept_days import DAY, HOUR, Budget, CountedDay, KeptDays, Scope
from glassline.collector.alerts.models import SloCount
from glassline.collector.alerts.observation import Observation, default_span_kinds
from glassline.collector.alerts.quality import evaluation_rows, evaluation_totals
from glassline.collector.alerts.queries import (
    Key,
    bucket_counts,
    latency_blobs,
    make_key,
    tenant_counts,
    totals,
)
from glassline.collector.alerts.windows import Span, rolling
from glassline.collector.storage import aggregates
from glassline.collector.storage import sketch as sketches
from glassline.collector.storage.models import EvaluationRollup

__all__ = ["EVALUATORS", "PERIOD_DAYS_PER_PASS", "slo_status", "unread_hours"]

_log = logging.getLogger(__name__)
# Whole past days of its period a latency (or min_score) SLO counts at most per pass or API
# answer: a store without ``slo_counts`` yet (an upgrade) or a new rule has all 30 to count,
# 36 s for 8 rules over 2,000 routes in one pass, while every alert waited and the lease ran
# out. Its burn windows are counted in full: only ``budget_spent`` waits for the rest.
PERIOD_DAYS_PER_PASS = 2


def _good_total(rule: cfg.SloRule, conn: Connection, w: Span) -> dict[Key, tuple[float, float]]:
    """(good, total) events per key in the window ``w``, for the rule's SLI."""
    if rule.sli == "evaluation":
        assert rule.evaluation is not None
        found = evaluation_totals(conn, w.start, w.end, rule.evaluation, rule.filters, rule.per,
                                  with_sketch=rule.min_score is not None)  # fmt: skip
        if rule.min_score is None:
            return {k: (t.passed, t.labelled) for k, t in found.items()}
        return {
            k: (t.scored - sketches.count_below(t.sketch, rule.min_score), t.scored)
            for k, t in found.items()
            if t.sketch is not None
        }
    kinds = default_span_kinds(rule)
    if rule.sli == "availability":
        found_totals = totals(conn, w.start, w.end, rule.filters, rule.per, kinds)
        return {k: (t.count - t.errors, t.count) for k, t in found_totals.items()}
    assert rule.threshold_ms is not None
    blobs = latency_blobs(conn, w.start, w.end, rule.filters, rule.per, kinds)
    # "at most threshold_ms" is good: count below the next representable value.
    limit = rule.threshold_ms * (1 + 1e-9)
    return {key: sketches.count_below_encoded(found, limit) for key, found in blobs.items()}


def _burn(good_total: tuple[float, float] | None, budget: float) -> float:
    if not good_total or good_total[1] <= 0:
        return 0.0
    good, total = good_total
    return (1.0 - good / total) / budget


def _scope(rule: cfg.SloRule, size: int = DAY) -> Scope:
    """Which kept counts of cells of ``size`` answer ``rule``: those of its answer fields (not
    its name, objective or burn windows; a rule reloaded with another threshold counts afresh)
    but the tenant filter, for the tenants it names. The API's rule scoped to one tenant reads
    the alert engine's counts of that tenant."""
    fields = {"sli", "threshold_ms", "evaluation", "min_score", "filters", "per"}
    answer = rule.model_dump(include=fields, exclude={"filters": {"tenant"}}, mode="json")
    if size != DAY:  # an hour's row starts where a day's may: stored under another name
        answer["cell_s"] = size
    slo = hashlib.sha256(json.dumps(answer, sort_keys=True).encode()).hexdigest()[:32]
    tenants = rule.filters.tenant
    return Scope(slo, tuple(rule.per), None if tenants is None else frozenset(tenants))


# A pass (or an API answer) reads every rule on one connection, and rules differing only in
# threshold or objective have the same fingerprints: read once per connection, 8 rules over
# 2,000 routes read them in 1.1 s of a 1.9 s pass. On SQLite a connection reads one snapshot
# anyway; on PostgreSQL an older fingerprint only has a day counted again later.
_prints_read: weakref.WeakKeyDictionary[Connection, dict[Any, dict[int, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _prints(rule: cfg.SloRule, conn: Connection, start: int, end: int, size: int) -> dict[int, Any]:
    """What tells a cell's counts changed, per cell of ``size`` seconds (a UTC day or hour) in
    ``[start, end)``; absent: no data.

    Rollups are only ever added to (or deleted by retention), so a latency SLO's cell changes
    whenever its call count does: one sum per cell from ``rollups_daily`` or ``_hourly`` (kept
    per tenant, :func:`_tenant_prints`, added up). An evaluation's score can be posted again,
    so its sums per key are compared (a digest per tenant).
    """
    what = (rule.sli, rule.evaluation, rule.filters.model_dump_json(), tuple(rule.per))
    read = _prints_read.setdefault(conn, {})
    found = read.get((*what, start, end, size))
    if found is None:
        found = read[(*what, start, end, size)] = _read_prints(rule, conn, start, end, size)
    return found


def _read_prints(
    rule: cfg.SloRule, conn: Connection, start: int, end: int, size: int
) -> dict[int, Any]:
    if rule.sli == "latency":
        kinds = default_span_kinds(rule)
        found = bucket_counts(conn, start, end, rule.filters, kinds, bucket=size)
        return {cell: count for cell, count in found.items() if count}
    return {cell: _digests(sums) for cell, sums in _cell_sums(rule, conn, start, end, size).items()}


def _combine(rule: cfg.SloRule) -> Callable[[Mapping[str, Any]], Any]:
    """How the kept fingerprints of a cell's tenants make the cell's (:func:`_prints`)."""
    return (lambda prints: sum(prints.values())) if rule.sli == "latency" else dict


def _tenant_prints(rule: cfg.SloRule, conn: Connection, cell: int, size: int) -> dict[str, Any]:
    """Each tenant's fingerprint of a cell, taken before its counts."""
    if rule.sli == "latency":
        kinds = default_span_kinds(rule)
        return tenant_counts(conn, cell, cell + size, rule.filters, kinds)
    return _digests(_cell_sums(rule, conn, cell, cell + size, size).get(cell, {}))


def _digests(sums: Mapping[Key, tuple[int, int, float]]) -> dict[str, str]:
    by_tenant: dict[str, list[Any]] = {}
    for key, found in sorted(sums.items()):
        by_tenant.setdefault(dict(key)["tenant"], []).append([key, found])
    return {
        tenant: hashlib.sha256(json.dumps(found).encode()).hexdigest()[:16]
        for tenant, found in by_tenant.items()
    }


def _cell_sums(
    rule: cfg.SloRule, conn: Connection, start: int, end: int, size: int
) -> dict[int, dict[Key, tuple[int, int, float]]]:
    """(count, scored, value sum) per cell and key: what tells a cell's scores changed."""
    assert rule.evaluation is not None
    t = EvaluationRollup
    cell = t.minute - t.minute % size
    dims = [getattr(t, d) for d in rule.per]
    stmt = select(cell, t.tenant, *dims, func.sum(t.count), func.sum(t.scored),
                  func.sum(t.value_sum)).where(*evaluation_rows(start, end, rule.evaluation, rule.filters))  # fmt: skip
    out: dict[int, dict[Key, tuple[int, int, float]]] = {}
    n = len(rule.per) + 2
    for row in conn.execute(stmt.group_by(cell, t.tenant, *dims)):
        key = make_key(row[1], rule.per, row[2:n])
        out.setdefault(int(row[0]), {})[key] = (
            row[n] or 0,
            row[n + 1] or 0,
            float(row[n + 2] or 0),
        )
    return out


# Whole past days and hours (the ends of a period, the burn windows), in the store for every
# process: a process started anew counted the hours again (3.6-4.4 s, 8 rules x 2,000 routes).
_kept = {DAY: KeptDays(), HOUR: KeptDays()}


def unread_hours(config: cfg.AlertsConfig, now_s: int) -> ColumnElement[bool]:
    """The stored hour counts (``slo_counts``) no pass reads again: a window reads hours only
    in its first day and today, the days between as whole days. Kept in all, a 30-day period
    would store 24 rows for each of its day rows."""
    keep: dict[str, list[ColumnElement[bool]]] = {}
    today = now_s - now_s % DAY
    for rule in config.rules:
        if not isinstance(rule, cfg.SloRule) or not _from_sketches(rule):
            continue
        slo = _scope(rule, HOUR).slo
        for length in (rule.period, rule.fast_burn.long, rule.fast_burn.short,
                       rule.slow_burn.long, rule.slow_burn.short):  # fmt: skip
            start = now_s - int(length.total_seconds())
            first = start - start % DAY
            keep.setdefault(slo, [SloCount.day >= today]).append(
                and_(SloCount.day >= first, SloCount.day < first + DAY)
            )
    return or_(
        false(), *(and_(SloCount.slo == slo, not_(or_(*days))) for slo, days in keep.items())
    )


def _from_sketches(rule: cfg.SloRule) -> bool:
    """Whether the rule counts good calls in sketches (kept per cell), not by sums in SQL."""
    return rule.sli == "latency" or (rule.sli == "evaluation" and rule.min_score is not None)


def _counted(
    rule: cfg.SloRule, conn: Connection, w: Span, days: Budget | None = None
) -> dict[Key, tuple[float, float]] | None:
    """(good, total) per key in the window ``w``, as :func:`_good_total` counts them; whole
    past days and hours kept (see :mod:`kept_days`) when the rule counts from sketches
    (latency, or scores against ``min_score``), only the minutes at the ends counted. With
    ``days``, at most that many whole days are counted; None if more were left."""
    if not _from_sketches(rule):
        return _good_total(rule, conn, w)  # sums in SQL: nothing to merge
    combine = _combine(rule)
    out: dict[Key, tuple[float, float]] = {}
    complete = True
    for piece in aggregates.pieces(w.start, w.end):
        part: dict[Key, tuple[float, float]] | None
        if piece.size < HOUR:
            part = _good_total(rule, conn, Span(piece.start, piece.end, piece.end))
        else:
            part = _kept[piece.size].good_total(
                conn, _scope(rule, piece.size), _prints(rule, conn, piece.start, piece.end, piece.size), combine,
                partial(_count_cell, rule, conn, piece.size), days if piece.size == DAY else None,
            )  # fmt: skip
        if part is None:
            complete = False
            continue
        for key, (good, total) in part.items():
            before = out.get(key, (0.0, 0.0))
            out[key] = (before[0] + good, before[1] + total)
    return out if complete else None


def _count_cell(rule: cfg.SloRule, conn: Connection, size: int, cell: int) -> CountedDay:
    prints = _tenant_prints(rule, conn, cell, size)
    return CountedDay(_good_total(rule, conn, Span(cell, cell + size, cell + size)), prints)


def _period(
    rule: cfg.SloRule, conn: Connection, now: datetime
) -> dict[Key, tuple[float, float]] | None:
    """(good, total) per key over the rule's period, or None while its days are still being
    counted, :data:`PERIOD_DAYS_PER_PASS` a call (logged)."""
    days = Budget(PERIOD_DAYS_PER_PASS)
    period = _counted(rule, conn, rolling(now, rule.period), days)
    if period is None:
        _log.info(
            "SLO %s: %d past days of its period still to count (%d a pass); budget_spent "
            "comes once all are", rule.name, days.waiting, PERIOD_DAYS_PER_PASS,
        )  # fmt: skip
    return period


def _slo(rule: cfg.SloRule, conn: Connection, now: datetime) -> list[Observation]:
    budget = 1.0 - rule.objective
    conditions = []
    for label, burn, severity in (("fast", rule.fast_burn, "critical"),
                                  ("slow", rule.slow_burn, "warning")):  # fmt: skip
        long_w, short_w = rolling(now, burn.long), rolling(now, burn.short)
        long, short = _counted(rule, conn, long_w), _counted(rule, conn, short_w)
        assert long is not None and short is not None  # counted without a budget
        conditions.append((label, burn, severity, long_w, long, short))
    period = _period(rule, conn, now)  # after the burn windows: it may count their days
    out = []
    for label, burn, severity, long_w, long, short in conditions:
        for key, counts in sorted(long.items()):  # the order of the keys, not of the reads
            if counts[1] < rule.min_count:
                continue
            long_burn, short_burn = _burn(counts, budget), _burn(short.get(key), budget)
            # Both windows must burn: the long one proves it matters, the short one that it
            # is still happening (so the alert resolves soon after the errors stop).
            value = round(min(long_burn, short_burn), 4)
            # The budget share spent over the period: its average burn rate.
            extra = {"long_burn": round(long_burn, 4), "short_burn": round(short_burn, 4)}
            if period is not None and key in period:
                extra["budget_spent"] = round(_burn(period[key], budget), 4)
            out.append(
                Observation(
                    key=tuple(sorted((*key, ("burn", label)))),
                    value=value,
                    threshold=burn.factor,
                    breached=value > burn.factor,
                    severity=severity,
                    window=long_w,
                    extra=extra,
                )
            )
    return out


def slo_status(
    conn: Connection, config: cfg.AlertsConfig, tenant: str, now: datetime
) -> list[dict[str, Any]]:
    """Each SLO rule's burn rates for ``tenant`` as of ``now``: one entry per key and condition
    (``fast`` / ``slow``), for the API and the Overview (computed live, like budgets)."""
    out = []
    for rule in config.rules:
        if not isinstance(rule, cfg.SloRule):
            continue
        if rule.filters.tenant is not None and tenant not in rule.filters.tenant:
            continue
        scoped = rule.model_copy(
            update={"filters": rule.filters.model_copy(update={"tenant": [tenant]})}
        )
        for obs in _slo(scoped, conn, now):
            dims = {k: v for k, v in obs.key if k not in ("tenant", "burn")}
            burn = dict(obs.key)["burn"]
            out.append({
                "rule": rule.name, "tenant": tenant, "sli": rule.sli,
                "objective": rule.objective, "labels": dims, "burn": burn,
                "burn_rate": obs.value, "threshold": obs.threshold,
                "state": obs.severity if obs.breached else "ok", **obs.extra,
            })  # fmt: skip
    return out


EVALUATORS: dict[str, Callable[[Any, Connection, datetime], list[Observation]]] = {"slo": _slo}
