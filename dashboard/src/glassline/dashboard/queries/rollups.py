"""Aggregates for the Overview, Latency and Spend pages, read only from the rollup tables.

Every figure here (spend, tokens, counts, percentiles) comes from the rollups, which count each
span once before sampling, so they are true totals; raw spans are never scanned. A window is
split into whole hours, read from ``rollups_hourly``, and the minutes at its edges, read from
``rollups``: the sums and merged sketches are exactly those of the minute rows, but a 30-day
window merges ~720 sketches per series instead of ~43,000.

Requests are ``workflow`` spans (one per request an instrumented app serves); end-to-end
latency is their sketch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage.models import HourRollup, Rollup, UserRollup
from glassline.dashboard.sketches import QUANTILES, BinMerger
from glassline.dashboard.window import Window

__all__ = [
    "DIMENSIONS",
    "REQUEST_KIND",
    "SUM_COLUMNS",
    "PercentileView",
    "Totals",
    "breakdown",
    "cube",
    "group",
    "percentile_views",
    "percentiles",
    "request_latency",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "totals_from",
    "user_spend",
]

REQUEST_KIND = "workflow"
DIMENSIONS = ("model", "stage", "route", "tenant", "kind")
SUM_COLUMNS = (
    "count",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cost_usd",
    "cache_hits",
    "cache_lookups",
    "retries",
    "fallbacks",
    "duration_sum_ms",
)
_HOUR = 3600


@dataclass(frozen=True, slots=True)
class _Source:
    """One rollup table and the part of the window it answers for."""

    table: Any  # Rollup or HourRollup
    time: Any  # its bucket column
    start: int
    end: int

    def where(self, tenant: str | None) -> list[ColumnElement[bool]]:
        conds = [self.time >= self.start, self.time < self.end]
        if tenant:
            conds.append(self.table.tenant == tenant)
        return conds

    def col(self, name: str) -> Any:
        return getattr(self.table, name)


def _sources(start: int, end: int, bucket: int | None = None) -> Iterator[_Source]:
    """The tables answering ``[start, end)``; hourly rows only when charts bucket by hours.

    A 15-minute chart bucket cannot come from hourly rows (each would land in the bucket of
    its hour's start), so bucketed reads finer than an hour stay on the minute table.
    """
    first_hour = -(-start // _HOUR) * _HOUR
    last_hour = end // _HOUR * _HOUR
    if last_hour - first_hour < _HOUR or (bucket is not None and bucket % _HOUR):
        yield _Source(Rollup, Rollup.minute, start, end)
        return
    yield _Source(HourRollup, HourRollup.hour, first_hour, last_hour)
    for lo, hi in ((start, first_hour), (last_hour, end)):
        if lo < hi:
            yield _Source(Rollup, Rollup.minute, lo, hi)


def _sums(src: _Source, columns: Sequence[str] = SUM_COLUMNS) -> list[ColumnElement[Any]]:
    return [func.coalesce(func.sum(src.col(c)), 0).label(c) for c in columns]


def _frame(conn: Connection, queries: list[Select[Any]], keys: list[str]) -> pd.DataFrame:
    """Run one grouped query per source and add the partial sums up per key."""
    rows = [r for q in queries for r in conn.execute(q).mappings().all()]
    frame = pd.DataFrame(rows, columns=[*keys, *SUM_COLUMNS])
    if frame.empty or not keys:
        return frame
    return frame.groupby(keys, as_index=False, sort=False)[list(SUM_COLUMNS)].sum()


@dataclass(slots=True)
class Totals:
    """Headline figures for one window."""

    requests: int = 0
    request_errors: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    retries: int = 0
    fallbacks: int = 0
    latency_ms: dict[float, float | None] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.request_errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None


def cube(conn: Connection, window: Window) -> pd.DataFrame:
    """Sums per (model, stage, route, tenant, kind) in the window: one scan feeds a whole page.

    :func:`group` and :func:`totals_from` derive breakdowns and headline sums from it in memory.
    """
    queries = []
    for src in _sources(window.start, window.end):
        dims = [src.col(d).label(d) for d in DIMENSIONS]
        queries.append(select(*dims, *_sums(src)).where(*src.where(window.tenant)).group_by(*dims))
    return _frame(conn, queries, list(DIMENSIONS))


def group(frame: pd.DataFrame, by: str, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Sums per value of ``by`` from a :func:`cube` frame, by cost descending."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot group rollups by {by!r}; choose one of {DIMENSIONS}")
    if kinds:
        frame = frame[frame["kind"].isin(kinds)]
    grouped = frame.groupby(by, as_index=False, sort=False)[list(SUM_COLUMNS)].sum()
    return grouped.sort_values(["cost_usd", by], ascending=[False, True], ignore_index=True)


def totals_from(frame: pd.DataFrame) -> Totals:
    """Headline sums from a :func:`cube` frame (without percentiles, which need sketches)."""
    sums = frame[list(SUM_COLUMNS)].sum()
    requests = frame.loc[frame["kind"] == REQUEST_KIND, ["count", "errors"]].sum()
    return Totals(
        requests=int(requests["count"]),
        request_errors=int(requests["errors"]),
        cost_usd=float(sums["cost_usd"]),
        input_tokens=int(sums["input_tokens"]),
        output_tokens=int(sums["output_tokens"]),
        cache_read_tokens=int(sums["cache_read_tokens"]),
        cache_hits=int(sums["cache_hits"]),
        cache_lookups=int(sums["cache_lookups"]),
        retries=int(sums["retries"]),
        fallbacks=int(sums["fallbacks"]),
    )


def request_latency(conn: Connection, window: Window) -> dict[float, float | None]:
    """End-to-end p50/p95/p99 (ms): the merged sketches of ``workflow`` spans."""
    merger = BinMerger()
    for src in _sources(window.start, window.end):
        query = select(src.col("latency_sketch")).where(
            *src.where(window.tenant), src.col("kind") == REQUEST_KIND
        )
        merger.add_many(conn.execute(query).scalars())
    return merger.quantiles()


def totals(conn: Connection, window: Window) -> Totals:
    """Requests, errors, spend, tokens, cache, retries and end-to-end p50/p95/p99."""
    result = totals_from(cube(conn, window))
    result.latency_ms = request_latency(conn, window)
    return result


def breakdown(
    conn: Connection, window: Window, by: str, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per value of one dimension (model, stage, route, tenant, kind), by cost descending."""
    return group(cube(conn, window), by, kinds)


def _bucket(src: _Source, window: Window) -> ColumnElement[int]:
    return (src.time - src.time % window.bucket).label("bucket")


def sum_series(
    conn: Connection, window: Window, by: str | None = None, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per chart bucket (and per value of ``by``); ``time`` is a UTC timestamp.

    ``kinds=["workflow"]`` gives requests (``count``) and request errors per bucket.
    """
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"cannot group rollups by {by!r}; choose one of {DIMENSIONS}")
    queries = []
    for src in _sources(window.start, window.end, window.bucket):
        dims = [_bucket(src, window)] + ([src.col(by).label(by)] if by else [])
        query = select(*dims, *_sums(src)).where(*src.where(window.tenant)).group_by(*dims)
        if kinds:
            query = query.where(src.col("kind").in_(kinds))
        queries.append(query)
    return _with_time(_frame(conn, queries, ["bucket", *([by] if by else [])]))


def _with_time(frame: pd.DataFrame) -> pd.DataFrame:
    frame["time"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    return frame.sort_values("time", ignore_index=True)


@dataclass(slots=True)
class PercentileView:
    """p50/p95/p99 (ms) of one sketch column: per bucket and over the whole window."""

    over_time: pd.DataFrame  # bucket, time, <by>, count, p50, p95, p99
    overall: pd.DataFrame  # <by>, count, p50, p95, p99; slowest p95 first


_SKETCHES = ("latency_sketch", "ttft_sketch")


def percentile_views(
    conn: Connection,
    window: Window,
    by: str,
    kinds: Sequence[str],
    sketches: Sequence[str] = ("latency_sketch",),
) -> dict[str, PercentileView]:
    """Per sketch column, percentiles per value of ``by`` over time and overall, in ONE scan.

    Each rollup row is read once; the overall figures merge the per-bucket sketches.
    """
    if by not in DIMENSIONS or not set(sketches) <= set(_SKETCHES):
        raise ValueError(f"cannot compute percentiles of {sketches!r} by {by!r}")
    groups = {name: defaultdict(BinMerger) for name in sketches}
    for src in _sources(window.start, window.end, window.bucket):
        cols = [_bucket(src, window), src.col(by), *(src.col(name) for name in sketches)]
        query = select(*cols).where(*src.where(window.tenant), src.col("kind").in_(kinds))
        for row in conn.execute(query):
            key = (row[0], row[1])
            for name, blob in zip(sketches, row[2:], strict=True):
                if blob:
                    groups[name][key].add(blob)
    return {name: _views(merged, by) for name, merged in groups.items()}


def _row(key: list[Any], merger: BinMerger) -> list[Any]:
    q = merger.quantiles()
    return [*key, int(merger.count), *(q[x] for x in QUANTILES)]


def _views(groups: dict[tuple[Any, Any], BinMerger], by: str) -> PercentileView:
    totals: dict[Any, BinMerger] = defaultdict(BinMerger)
    for (_, value), merger in groups.items():
        totals[value].merge(merger)
    stats = ["count", "p50", "p95", "p99"]
    over_time = pd.DataFrame(
        [_row([b, v], m) for (b, v), m in groups.items()], columns=["bucket", by, *stats]
    )
    overall = pd.DataFrame([_row([v], m) for v, m in totals.items()], columns=[by, *stats])
    return PercentileView(
        over_time=_with_time(over_time),
        overall=overall.sort_values(["p95", by], ascending=[False, True], ignore_index=True),
    )


def percentiles(
    conn: Connection,
    window: Window,
    by: str,
    kinds: Sequence[str],
    over_time: bool,
    sketch: str = "latency_sketch",
) -> pd.DataFrame:
    """p50/p95/p99 (ms) per value of ``by`` (and per bucket if ``over_time``), merged sketches.

    ``sketch`` is ``latency_sketch`` or ``ttft_sketch``. Without ``over_time`` rows come back
    sorted by p95, slowest first.
    """
    view = percentile_views(conn, window, by, kinds, (sketch,))[sketch]
    return view.over_time if over_time else view.overall


def user_spend(conn: Connection, window: Window, limit: int = 20) -> pd.DataFrame:
    """Top users by spend in the window (spans without a user are not in ``user_rollups``)."""
    cost = func.sum(UserRollup.cost_usd).label("cost_usd")
    conds = [UserRollup.minute >= window.start, UserRollup.minute < window.end]
    if window.tenant:
        conds.append(UserRollup.tenant == window.tenant)
    query = (
        select(
            UserRollup.user_id,
            func.sum(UserRollup.requests).label("requests"),
            func.sum(UserRollup.input_tokens).label("input_tokens"),
            func.sum(UserRollup.output_tokens).label("output_tokens"),
            cost,
        )
        .where(*conds)
        .group_by(UserRollup.user_id)
        .order_by(cost.desc(), UserRollup.user_id)
        .limit(limit)
    )
    columns = ["user_id", "requests", "input_tokens", "output_tokens", "cost_usd"]
    return pd.DataFrame(conn.execute(query).mappings().all(), columns=columns)


def spend_between(conn: Connection, start: int, end: int, tenant: str | None) -> float:
    """Total spend in ``[start, end)`` (Unix seconds), e.g. today or this month."""
    total = 0.0
    for src in _sources(start, end):
        query = select(func.coalesce(func.sum(src.col("cost_usd")), 0.0)).where(*src.where(tenant))
        total += float(conn.execute(query).scalar_one())
    return total


def tenants(conn: Connection, window: Window) -> list[str]:
    """Tenants with data in the window, for the tenant selector."""
    found: set[str] = set()
    for src in _sources(window.start, window.end):
        query = select(src.col("tenant")).where(*src.where(None)).distinct()
        found.update(conn.execute(query).scalars())
    return sorted(found)
