"""The ``shift`` and ``quality`` rule kinds (traffic shares, scores) and the evaluation sums
they and the ``slo`` kind (:mod:`slo`) read.

Like every rule they read only rollups: ``rollups``/``rollups_hourly`` for requests, errors
and latency sketches, ``evaluation_rollups`` for evaluation counts, means, pass rates and
score sketches. All counted before sampling, so a sampled-out request still burns budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.observation import Observation, compare, default_span_kinds
from glassline.collector.alerts.queries import Key, make_key, totals
from glassline.collector.alerts.windows import Span, rolling
from glassline.collector.storage import sketch as sketches
from glassline.collector.storage.models import EvaluationRollup
from glassline.collector.storage.quality import ScoreSums

__all__ = ["EVALUATORS", "EvaluationTotals", "evaluation_rows", "evaluation_totals"]


@dataclass(slots=True)
class EvaluationTotals(ScoreSums):
    """An evaluation's sums over a window, with its score sketch when asked for."""

    sketch: BaseDDSketch | None = None  # merged only when asked for


def evaluation_rows(start: int, end: int, name: str, filters: cfg.Filters) -> list[Any]:
    """The conditions selecting the evaluation ``name``'s rollup rows in ``[start, end)``."""
    t = EvaluationRollup
    where = [t.name == name, t.minute >= start - start % 60, t.minute < end]
    for dim in ("tenant", "stage", "model"):
        values = getattr(filters, dim)
        if values is not None:
            where.append(getattr(t, dim).in_(values))
    return where


def evaluation_totals(
    conn: Connection,
    start: int,
    end: int,
    name: str,
    filters: cfg.Filters,
    per: Sequence[str],
    *,
    with_sketch: bool = False,
) -> dict[Key, EvaluationTotals]:
    """Sums of the evaluation ``name`` per key over minutes in ``[start, end)``."""
    t = EvaluationRollup
    dims = [getattr(t, d) for d in per]
    measures = [func.sum(t.count), func.sum(t.scored), func.sum(t.value_sum),
                func.sum(t.labelled), func.sum(t.passed)]  # fmt: skip
    stmt = select(t.tenant, *dims, *measures).where(*evaluation_rows(start, end, name, filters))
    n = len(per) + 1
    out: dict[Key, EvaluationTotals] = {}
    for row in conn.execute(stmt.group_by(t.tenant, *dims)):
        c, s, v, lab, p = (x or 0 for x in row[n:])
        out[make_key(row[0], per, row[1:n])] = EvaluationTotals(c, s, float(v), lab, p)
    if with_sketch and out:
        blobs: dict[Key, list[bytes | None]] = {}
        rows = select(t.tenant, *dims, t.sketch).where(*stmt.whereclause.clauses)  # type: ignore[union-attr]
        for row in conn.execute(rows):
            blobs.setdefault(make_key(row[0], per, row[1:n]), []).append(row[-1])
        for key, found in out.items():
            found.sketch = sketches.merge_encoded(blobs.get(key, []))
    return out


# --- shift --------------------------------------------------------------------------------


def _group(rule: cfg.ShiftRule, key: Key) -> Key:
    return tuple(p for p in key if p[0] != rule.dimension)


def _shares(
    rule: cfg.ShiftRule, conn: Connection, w: Span
) -> tuple[dict[Key, float], dict[Key, int]]:
    """Each dimension value's share of its group's requests, and the groups' requests."""
    kinds = default_span_kinds(rule)
    by_value = totals(conn, w.start, w.end, rule.filters, [*rule.per, rule.dimension], kinds)
    groups = {
        k: t.count for k, t in totals(conn, w.start, w.end, rule.filters, rule.per, kinds).items()
    }
    shares = {k: t.count / groups[_group(rule, k)] for k, t in by_value.items() if t.count}
    return shares, groups


def _shift(rule: cfg.ShiftRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    current, now_groups = _shares(rule, conn, span)
    baseline, base_groups = _shares(rule, conn, rolling(now, rule.window, rule.baseline.offset))
    out = []
    for key in sorted(set(current) | set(baseline)):  # a value gone now has a share of 0
        group = _group(rule, key)
        if min(now_groups.get(group, 0), base_groups.get(group, 0)) < rule.min_requests:
            continue
        share, before = current.get(key, 0.0), baseline.get(key, 0.0)
        moved = round(abs(share - before) * 100, 3)
        out.append(compare(key, moved, rule.points, rule.severity, span, above=True,
                           share=round(share * 100, 3), baseline=round(before * 100, 3)))  # fmt: skip
    return out


# --- quality ------------------------------------------------------------------------------


def _scores(
    rule: cfg.QualityRule, conn: Connection, now: datetime, offset: timedelta = timedelta(0)
) -> dict[Key, float]:
    w = rolling(now, rule.window, offset)
    found = evaluation_totals(conn, w.start, w.end, rule.evaluation, rule.filters, rule.per)
    out = {}
    for key, t in found.items():
        value = t.mean if rule.metric == "mean" else t.pass_rate
        enough = (t.scored if rule.metric == "mean" else t.labelled) >= rule.min_count
        if value is not None and enough:
            out[key] = value
    return out


def _quality(rule: cfg.QualityRule, conn: Connection, now: datetime) -> list[Observation]:
    span = rolling(now, rule.window)
    current = _scores(rule, conn, now)
    baseline = _scores(rule, conn, now, rule.baseline.offset) if rule.drop is not None else {}
    out = []
    for key, value in current.items():
        candidates = [] if rule.below is None else [rule.below]
        base = baseline.get(key)
        if base is not None and rule.drop is not None:
            candidates.append(base - rule.drop)
        if not candidates:
            continue  # only a relative threshold and no baseline for this key
        extra = {"baseline": round(base, 6)} if base is not None else {}
        out.append(compare(key, round(value, 6), round(max(candidates), 6), rule.severity, span,
                           above=False, **extra))  # fmt: skip
    return out


EVALUATORS: dict[str, Callable[[Any, Connection, datetime], list[Observation]]] = {
    "shift": _shift,
    "quality": _quality,
}
