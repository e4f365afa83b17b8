"""Read queries of the store: trace lists, one trace in full, and stats from the rollups.

Every function takes a SQLAlchemy ``Session`` and a ``tenant`` (``None`` means an admin
reading all tenants). Aggregates come from the rollup tables only, never from scanning
spans; long ranges read daily rows, with hourly and then minute rows at the edges.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from glassline.collector.storage import sketch
from glassline.collector.storage.models import (
    DayRollup,
    HourRollup,
    Rollup,
    Span,
    Trace,
    UserRollup,
)

__all__ = [
    "GROUP_BYS",
    "MAX_NS",
    "QueryError",
    "StatsRow",
    "TraceDetail",
    "TracePage",
    "TraceSummary",
    "get_trace",
    "list_traces",
    "stats",
    "stats_dicts",
]

GROUP_BYS = ("stage", "model", "tenant", "route", "user", "kind", "minute", "hour", "day")
_TIME_BUCKETS = {"minute": 60, "hour": 3600, "day": 86_400}
_NS = 1_000_000_000
MAX_LIMIT = 1000


MAX_NS = 2**63 - 1  # times are nanoseconds in signed 64-bit columns


class QueryError(ValueError):
    """A bad query parameter; ``parameter`` names it (the API answers 400)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class TraceSummary:
    tenant: str
    trace_id: str
    root_name: str | None
    service: str | None
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    user_id: str | None
    session_id: str | None
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    models: list[str]
    stages: list[str]


@dataclass(frozen=True, slots=True)
class TracePage:
    traces: list[TraceSummary]
    next_cursor: str | None  # pass back as ``cursor`` for the next (older) page


@dataclass(frozen=True, slots=True)
class TraceDetail:
    trace: TraceSummary
    spans: list[dict[str, Any]]  # every column of ``spans``, ordered by start time


@dataclass(slots=True)
class StatsRow:
    group: str | int  # the dimension value, or the bucket's Unix seconds for time groups
    count: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    _sketches: list[bytes] = field(default_factory=list, repr=False)


_SUMMARY_COLUMNS = [Trace.__table__.c[f] for f in TraceSummary.__dataclass_fields__]


def _summary(row: Any) -> TraceSummary:
    return TraceSummary(**{name: row[name] for name in TraceSummary.__dataclass_fields__})


def _encode_cursor(t: TraceSummary) -> str:
    raw = json.dumps([t.start_ns, t.tenant, t.trace_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start, tenant, trace_id = json.loads(raw)
        if not (isinstance(start, int) and isinstance(tenant, str) and isinstance(trace_id, str)):
            raise ValueError
        if not 0 <= start <= MAX_NS:
            raise ValueError
        for text in (tenant, trace_id):
            text.encode("utf-8")  # a lone surrogate would fail in the SQL driver instead
    except (ValueError, TypeError, binascii.Error):  # UnicodeEncodeError is a ValueError
        raise QueryError("cursor", "not a cursor returned by this API") from None
    return start, tenant, trace_id


def _span_exists(*conditions: Any) -> Any:
    return exists().where(Span.tenant == Trace.tenant, Span.trace_id == Trace.trace_id, *conditions)


def list_traces(
    session: Session,
    tenant: str | None,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    user: str | None = None,
    session_id: str | None = None,
    model: str | None = None,
    status: str | None = None,
    min_cost: float | None = None,
    min_duration_ms: float | None = None,
    name_contains: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TracePage:
    """Traces newest first (by start), filtered; page on with ``next_cursor``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
    q: Select[Any] = select(*_SUMMARY_COLUMNS)
    conditions = [
        (Trace.tenant == tenant) if tenant is not None else None,
        (Trace.start_ns >= start_ns) if start_ns is not None else None,
        (Trace.start_ns < end_ns) if end_ns is not None else None,
        (Trace.user_id == user) if user else None,
        (Trace.session_id == session_id) if session_id else None,
        (Trace.status == status) if status else None,
        (Trace.cost_usd >= min_cost) if min_cost is not None else None,
        (Trace.duration_ms >= min_duration_ms) if min_duration_ms is not None else None,
        _span_exists(Span.model == model) if model else None,
        _span_exists(Span.name.ilike(f"%{_escape_like(name_contains)}%", escape="\\"))
        if name_contains
        else None,
    ]
    if cursor:
        c_start, c_tenant, c_trace = _decode_cursor(cursor)
        # start_ns <= c_start lets the (tenant, start_ns) index bound the scan.
        conditions.append(Trace.start_ns <= c_start)
        conditions.append(
            or_(
                Trace.start_ns < c_start,
                tuple_(Trace.tenant, Trace.trace_id) < tuple_(c_tenant, c_trace),
            )
        )
    q = q.where(*(c for c in conditions if c is not None))
    q = q.order_by(Trace.start_ns.desc(), Trace.tenant.desc(), Trace.trace_id.desc())
    rows = session.execute(q.limit(limit + 1)).mappings().all()
    traces = [_summary(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(traces[-1]) if len(rows) > limit else None
    return TracePage(traces=traces, next_cursor=next_cursor)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_trace(session: Session, tenant: str | None, trace_id: str) -> TraceDetail | None:
    """A trace's summary and all its spans, or ``None`` if the tenant has no such trace.

    An admin (``tenant=None``) gets the most recent trace with this id across tenants.
    """
    # No ORDER BY in SQL: it would tempt the planner into walking the (tenant, start_ns)
    # index instead of the primary key (1M spans: 155 ms instead of 2 ms).
    q = select(*_SUMMARY_COLUMNS).where(Trace.trace_id == trace_id)
    if tenant is not None:
        q = q.where(Trace.tenant == tenant)
    rows = session.execute(q).mappings().all()
    if not rows:
        return None
    row = max(rows, key=lambda r: r["start_ns"])
    spans = session.execute(
        select(Span.__table__).where(Span.tenant == row["tenant"], Span.trace_id == trace_id)
    ).mappings()
    ordered = sorted((dict(s) for s in spans), key=lambda s: (s["start_ns"], s["span_id"]))
    return TraceDetail(trace=_summary(row), spans=ordered)


# Rollup tables from finest to coarsest: (bucket seconds, table, bucket column name).
_LEVELS = ((60, Rollup, "minute"), (3600, HourRollup, "hour"), (86_400, DayRollup, "day"))


def _split(lo: int, hi: int, levels: Sequence[Any]) -> Iterator[tuple[Any, str, int, int]]:
    """(table, bucket column, lo_s, hi_s) pieces covering [lo, hi): the coarsest table for
    the whole buckets in the middle, finer tables for the edges."""
    size, table, column = levels[-1]
    if len(levels) > 1:
        c_lo, c_hi = -(-lo // size) * size, hi // size * size
        if c_lo >= c_hi:
            yield from _split(lo, hi, levels[:-1])
            return
        if lo < c_lo:
            yield from _split(lo, c_lo, levels[:-1])
        yield table, column, c_lo, c_hi
        if c_hi < hi:
            yield from _split(c_hi, hi, levels[:-1])
        return
    yield table, column, lo, hi


def _segments(
    start_ns: int, end_ns: int, finest_group_s: int
) -> Iterator[tuple[Any, str, int, int]]:
    """Pieces of the range, never coarser than the time grouping. Bounds widen to whole
    minutes (the rollups' resolution)."""
    lo = start_ns // _NS // 60 * 60
    hi = -(-end_ns // (60 * _NS)) * 60
    levels = [level for level in _LEVELS if level[0] <= finest_group_s]
    return _split(lo, hi, levels)


def stats(
    session: Session,
    tenant: str | None,
    start_ns: int,
    end_ns: int,
    group_by: str = "stage",
    *,
    kind: str | None = None,
) -> list[StatsRow]:
    """Count, errors, tokens, cost and latency p50/p95/p99 per group, from the rollups.

    ``group_by``: stage, model, tenant, route, kind (a dimension; '' = none), minute, hour,
    day (time buckets, UTC) or user (from ``user_rollups``: count is requests, i.e. root
    spans; no percentiles). ``kind`` keeps one span kind (e.g. ``llm`` or ``stage``), so
    a stage's latency is not mixed with the latency of the calls inside it.
    """
    if group_by not in GROUP_BYS:
        raise QueryError("group_by", f"must be one of {', '.join(GROUP_BYS)}")
    if end_ns <= start_ns:
        raise QueryError("end", "must be after start")
    if group_by == "user":
        return _user_stats(session, tenant, start_ns, end_ns)
    groups: dict[str | int, StatsRow] = {}
    bucket_s = _TIME_BUCKETS.get(group_by)
    for table, column, lo, hi in _segments(start_ns, end_ns, bucket_s or 86_400):
        bucket = getattr(table, column)
        dim = bucket if bucket_s else getattr(table, group_by)
        q = select(
            dim,
            table.count,
            table.errors,
            table.input_tokens,
            table.output_tokens,
            table.cache_read_tokens,
            table.cost_usd,
            table.latency_sketch,
        ).where(bucket >= lo, bucket < hi)
        if tenant is not None:
            q = q.where(table.tenant == tenant)
        if kind is not None:
            q = q.where(table.kind == kind)
        for value, count, errors, tin, tout, tcache, cost, blob in session.execute(q):
            key = value // bucket_s * bucket_s if bucket_s else value
            row = groups.get(key)
            if row is None:
                row = groups[key] = StatsRow(group=key)
            row.count += count
            row.errors += errors
            row.input_tokens += tin
            row.output_tokens += tout
            row.cache_read_tokens += tcache
            row.cost_usd += cost
            row._sketches.append(blob)
    for row in groups.values():
        q50, q95, q99 = sketch.quantiles(sketch.merge_encoded(row._sketches)).values()
        row.p50_ms, row.p95_ms, row.p99_ms = q50, q95, q99
        row._sketches = []
    return sorted(groups.values(), key=_order(bool(bucket_s)))


def _order(by_time: bool) -> Any:
    if by_time:
        return lambda r: r.group
    return lambda r: (-r.cost_usd, -r.count, str(r.group))


def _user_stats(session: Session, tenant: str | None, start_ns: int, end_ns: int) -> list[StatsRow]:
    lo = start_ns // _NS // 60 * 60
    hi = -(-end_ns // (60 * _NS)) * 60
    q = select(
        UserRollup.user_id,
        func.sum(UserRollup.requests),
        func.sum(UserRollup.errors),
        func.sum(UserRollup.input_tokens),
        func.sum(UserRollup.output_tokens),
        func.sum(UserRollup.cost_usd),
    ).where(UserRollup.minute >= lo, UserRollup.minute < hi)
    if tenant is not None:
        q = q.where(UserRollup.tenant == tenant)
    rows = [
        StatsRow(
            group=user,
            count=int(n or 0),
            errors=int(err or 0),
            input_tokens=int(tin or 0),
            output_tokens=int(tout or 0),
            cost_usd=float(cost or 0.0),
        )
        for user, n, err, tin, tout, cost in session.execute(q.group_by(UserRollup.user_id))
    ]
    return sorted(rows, key=_order(False))


def stats_dicts(rows: Sequence[StatsRow]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (without the internal sketch list)."""
    return [
        {name: getattr(r, name) for name in StatsRow.__dataclass_fields__ if name[0] != "_"}
        for r in rows
    ]
