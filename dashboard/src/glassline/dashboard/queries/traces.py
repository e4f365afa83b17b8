"""The trace list and one trace's spans, read from ``traces`` and ``spans`` with indexed queries.

The list is keyed on ``(tenant, start_ns)`` / ``start_ns`` and pages with LIMIT/OFFSET, fetching
one row more than a page to know whether a next page exists (no COUNT over a large table).
Model, stage and span-name filters are correlated EXISTS on the spans primary key
``(tenant, trace_id, ...)``, so they touch only the spans of candidate traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.engine import Connection

from glassline.collector.storage.models import Span, Trace
from glassline.dashboard.window import Window

__all__ = ["SORTS", "TraceDetail", "TraceFilter", "TracePage", "get_trace", "list_traces"]

SORTS = {
    "newest": Trace.start_ns.desc(),
    "oldest": Trace.start_ns.asc(),
    "slowest": Trace.duration_ms.desc(),
    "costliest": Trace.cost_usd.desc(),
}
LIST_COLUMNS = (
    "tenant",
    "trace_id",
    "root_name",
    "service",
    "start_ns",
    "duration_ms",
    "status",
    "user_id",
    "session_id",
    "span_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
)


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """The Traces page filters; empty values mean "any"."""

    user_id: str = ""
    session_id: str = ""
    model: str = ""
    stage: str = ""
    status: str = ""  # "", "ok", "error", "unset"
    min_cost_usd: float = 0.0
    min_duration_ms: float = 0.0
    name_contains: str = ""


@dataclass(slots=True)
class TracePage:
    rows: pd.DataFrame
    page: int
    has_next: bool


def _span_exists(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(Span.tenant == Trace.tenant, Span.trace_id == Trace.trace_id, *conds)


def _conditions(window: Window, f: TraceFilter) -> list[ColumnElement[bool]]:
    conds = [Trace.start_ns >= window.start_ns, Trace.start_ns < window.end_ns]
    if window.tenant:
        conds.append(Trace.tenant == window.tenant)
    if f.user_id:
        conds.append(Trace.user_id == f.user_id)
    if f.session_id:
        conds.append(Trace.session_id == f.session_id)
    if f.status:
        conds.append(Trace.status == f.status)
    if f.min_cost_usd > 0:
        conds.append(Trace.cost_usd >= f.min_cost_usd)
    if f.min_duration_ms > 0:
        conds.append(Trace.duration_ms >= f.min_duration_ms)
    if f.model:
        conds.append(_span_exists(Span.model == f.model))
    if f.stage:
        conds.append(_span_exists(Span.stage == f.stage))
    if f.name_contains:
        # LIKE with escaped wildcards: the user's text is matched literally.
        pattern = f.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(_span_exists(Span.name.ilike(f"%{pattern}%", escape="\\")))
    return conds


def list_traces(
    conn: Connection,
    window: Window,
    filters: TraceFilter = TraceFilter(),
    sort: str = "newest",
    page: int = 0,
    page_size: int = 50,
) -> TracePage:
    """One page of traces matching the filters; ``start`` is a UTC timestamp column."""
    order = SORTS.get(sort, SORTS["newest"])
    query = (
        select(*(getattr(Trace, c) for c in LIST_COLUMNS))
        .where(and_(*_conditions(window, filters)))
        .order_by(order, Trace.trace_id)
        .limit(page_size + 1)
        .offset(max(page, 0) * page_size)
    )
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(LIST_COLUMNS))
    has_next = len(frame) > page_size
    frame = frame.head(page_size)
    frame.insert(0, "start", pd.to_datetime(frame["start_ns"].astype("int64"), unit="ns", utc=True))
    return TracePage(rows=frame, page=max(page, 0), has_next=has_next)


@dataclass(slots=True)
class TraceDetail:
    """A trace summary row and its spans, ordered by start time."""

    summary: dict[str, Any]
    spans: list[dict[str, Any]]


def get_trace(
    conn: Connection, trace_id: str, tenant: str | None, known_tenants: Sequence[str] = ()
) -> TraceDetail | None:
    """The trace and all its spans, or ``None``.

    Both tables are keyed ``(tenant, trace_id)``: without a tenant in the URL the lookup tries
    each known tenant on the index rather than scanning by trace id alone.
    """
    trace_id = trace_id.strip().lower()
    candidates = [tenant] if tenant else list(known_tenants)
    if not candidates:
        return None
    summary = (
        conn.execute(
            select(Trace.__table__)
            .where(Trace.tenant.in_(candidates), Trace.trace_id == trace_id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if summary is None:
        return None
    # Sorted here, not in SQL: an ORDER BY start_ns tempts SQLite into the (tenant, start_ns)
    # index instead of the primary key, scanning the tenant's whole history (~100x slower).
    rows = conn.execute(
        select(Span.__table__).where(Span.tenant == summary["tenant"], Span.trace_id == trace_id)
    ).mappings()
    spans = sorted((dict(s) for s in rows), key=lambda s: (s["start_ns"], s["span_id"]))
    return TraceDetail(summary=dict(summary), spans=spans)
