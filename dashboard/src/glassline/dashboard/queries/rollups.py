"""Aggregates for the Overview, Latency and Spend pages, read only from the rollup tables.

Every figure here (spend, tokens, counts, percentiles) comes from ``rollups`` and
``user_rollups``, which count each span once before sampling, so they are true totals; raw
spans are never scanned. Requests are root spans (``user_rollups.requests``); end-to-end
latency is the sketch of root ``workflow`` spans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage.models import Rollup, UserRollup
from glassline.dashboard.sketches import QUANTILES, BinMerger
from glassline.dashboard.window import Window

__all__ = [
    "DIMENSIONS",
    "REQUEST_KIND",
    "Totals",
    "breakdown",
    "percentiles",
    "requests_series",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "user_spend",
]

REQUEST_KIND = "workflow"  # the kind whose sketch is end-to-end request latency
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


def _where(window: Window, table: type[Rollup] | type[UserRollup]) -> list[ColumnElement[bool]]:
    conds = [table.minute >= window.start, table.minute < window.end]
    if window.tenant:
        conds.append(table.tenant == window.tenant)
    return conds


def _sums(columns: Sequence[str] = SUM_COLUMNS) -> list[ColumnElement[float]]:
    return [func.coalesce(func.sum(getattr(Rollup, c)), 0).label(c) for c in columns]


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


def totals(conn: Connection, window: Window) -> Totals:
    """Requests, errors, spend, tokens, cache, retries and end-to-end p50/p95/p99."""
    row = conn.execute(select(*_sums()).where(*_where(window, Rollup))).one()._mapping
    req = conn.execute(
        select(
            func.coalesce(func.sum(UserRollup.requests), 0),
            func.coalesce(func.sum(UserRollup.errors), 0),
        ).where(*_where(window, UserRollup))
    ).one()
    blobs = conn.execute(
        select(Rollup.latency_sketch).where(*_where(window, Rollup), Rollup.kind == REQUEST_KIND)
    ).scalars()
    return Totals(
        requests=int(req[0]),
        request_errors=int(req[1]),
        cost_usd=float(row["cost_usd"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        cache_read_tokens=int(row["cache_read_tokens"]),
        cache_hits=int(row["cache_hits"]),
        cache_lookups=int(row["cache_lookups"]),
        retries=int(row["retries"]),
        fallbacks=int(row["fallbacks"]),
        latency_ms=BinMerger().add_many(blobs).quantiles(),
    )


def breakdown(
    conn: Connection, window: Window, by: str, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per value of one dimension (model, stage, route, tenant, kind), by cost descending."""
    if by not in DIMENSIONS:
        raise ValueError(f"cannot group rollups by {by!r}; choose one of {DIMENSIONS}")
    dim = getattr(Rollup, by)
    query = select(dim.label(by), *_sums()).where(*_where(window, Rollup)).group_by(dim)
    if kinds:
        query = query.where(Rollup.kind.in_(kinds))
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=[by, *SUM_COLUMNS])
    return frame.sort_values("cost_usd", ascending=False, ignore_index=True)


def _bucket(window: Window) -> ColumnElement[int]:
    return (Rollup.minute - Rollup.minute % window.bucket).label("bucket")


def sum_series(
    conn: Connection, window: Window, by: str | None = None, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per chart bucket (and per value of ``by``); ``time`` is a UTC timestamp."""
    bucket = _bucket(window)
    dims = [bucket] + ([getattr(Rollup, by).label(by)] if by else [])
    query = select(*dims, *_sums()).where(*_where(window, Rollup)).group_by(*dims)
    if kinds:
        query = query.where(Rollup.kind.in_(kinds))
    columns = ["bucket", *([by] if by else []), *SUM_COLUMNS]
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=columns)
    return _with_time(frame)


def requests_series(conn: Connection, window: Window) -> pd.DataFrame:
    """Requests, errors and cost per chart bucket from ``user_rollups``."""
    bucket = (UserRollup.minute - UserRollup.minute % window.bucket).label("bucket")
    query = (
        select(
            bucket,
            func.sum(UserRollup.requests).label("requests"),
            func.sum(UserRollup.errors).label("errors"),
            func.sum(UserRollup.cost_usd).label("cost_usd"),
        )
        .where(*_where(window, UserRollup))
        .group_by(bucket)
    )
    frame = pd.DataFrame(
        conn.execute(query).mappings().all(), columns=["bucket", "requests", "errors", "cost_usd"]
    )
    return _with_time(frame)


def _with_time(frame: pd.DataFrame) -> pd.DataFrame:
    frame["time"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    return frame.sort_values("time", ignore_index=True)


def percentiles(
    conn: Connection,
    window: Window,
    by: str,
    kinds: Sequence[str],
    over_time: bool,
    sketch: str = "latency_sketch",
) -> pd.DataFrame:
    """p50/p95/p99 (ms) per value of ``by`` (and per bucket if ``over_time``), merged sketches.

    ``sketch`` is ``latency_sketch`` or ``ttft_sketch``. Rows come back sorted by p95 descending.
    """
    dim = getattr(Rollup, by)
    cols = [dim, Rollup.count, getattr(Rollup, sketch)]
    if over_time:
        cols.insert(0, _bucket(window))
    query = select(*cols).where(*_where(window, Rollup), Rollup.kind.in_(kinds))
    groups: dict[tuple[object, ...], BinMerger] = defaultdict(BinMerger)
    for row in conn.execute(query):
        blob = row[-1]
        if blob:
            groups[tuple(row[:-2])].add(blob)
    records = []
    for key, merger in groups.items():
        q = merger.quantiles()
        records.append([*key, int(merger.count), *(q[x] for x in QUANTILES)])
    keys = (["bucket"] if over_time else []) + [by]
    frame = pd.DataFrame(records, columns=[*keys, "count", "p50", "p95", "p99"])
    if over_time:
        return _with_time(frame)
    return frame.sort_values("p95", ascending=False, ignore_index=True)


def user_spend(conn: Connection, window: Window, limit: int = 20) -> pd.DataFrame:
    """Top users by spend in the window."""
    cost = func.sum(UserRollup.cost_usd).label("cost_usd")
    query = (
        select(
            UserRollup.user_id,
            func.sum(UserRollup.requests).label("requests"),
            func.sum(UserRollup.input_tokens).label("input_tokens"),
            func.sum(UserRollup.output_tokens).label("output_tokens"),
            cost,
        )
        .where(*_where(window, UserRollup))
        .group_by(UserRollup.user_id)
        .order_by(cost.desc())
        .limit(limit)
    )
    columns = ["user_id", "requests", "input_tokens", "output_tokens", "cost_usd"]
    return pd.DataFrame(conn.execute(query).mappings().all(), columns=columns)


def spend_between(conn: Connection, start: int, end: int, tenant: str | None) -> float:
    """Total spend in ``[start, end)`` (Unix seconds), e.g. today or this month."""
    query = select(func.coalesce(func.sum(Rollup.cost_usd), 0.0)).where(
        *_where(Window(start=start, end=end, tenant=tenant), Rollup)
    )
    return float(conn.execute(query).scalar_one())


def tenants(conn: Connection, window: Window) -> list[str]:
    """Tenants with data in the window, for the tenant selector."""
    query = (
        select(Rollup.tenant)
        .where(Rollup.minute >= window.start, Rollup.minute < window.end)
        .distinct()
        .order_by(Rollup.tenant)
    )
    return list(conn.execute(query).scalars())
