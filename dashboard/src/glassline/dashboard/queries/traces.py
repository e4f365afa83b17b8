"""The trace list and one trace's spans, read from ``traces`` and ``spans`` with indexed queries.

The filters and the drilldown are the collector's (:mod:`glassline.collector.storage.queries`),
so the query API and the dashboard find the same traces. The list here adds the dashboard's
sorts and pages with LIMIT/OFFSET, fetching one row more than a page to know whether a next
page exists (no COUNT over a large table).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import UnaryExpression, and_, func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage import queries
from glassline.collector.storage.models import Trace
from glassline.collector.storage.queries import (
    QueryError,
    TraceDetail,
    TraceFilter,
    trace_conditions,
)
from glassline.collector.storage.search import MAX_DOCUMENTS as SEARCH_DOCUMENTS
from glassline.dashboard.window import Window

__all__ = [
    "FAILED_SHOWN",
    "SEARCH_DOCUMENTS",
    "SORTS",
    "SPANS_SHOWN",
    "QueryError",
    "TraceDetail",
    "TraceFilter",
    "TracePage",
    "error_traces",
    "get_trace",
    "list_traces",
]

SORTS: dict[str, UnaryExpression[Any]] = {
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


@dataclass(slots=True)
class TracePage:
    """One page of the list as a frame (the query API pages by cursor instead)."""

    rows: pd.DataFrame
    page: int
    has_next: bool


def list_traces(
    conn: Connection,
    window: Window,
    filters: TraceFilter | None = None,
    sort: str = "newest",
    page: int = 0,
    page_size: int = 50,
) -> TracePage:
    """One page of traces matching the filters; ``start`` is a UTC timestamp column."""
    order = SORTS.get(sort, SORTS["newest"])
    f = filters or TraceFilter()
    conds = trace_conditions(conn, window.tenant, window.start_ns, window.end_ns, f)
    query = (
        select(*(getattr(Trace, c) for c in LIST_COLUMNS))
        .where(and_(*conds))
        .order_by(order, Trace.trace_id)
        .limit(page_size + 1)
        .offset(max(page, 0) * page_size)
    )
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(LIST_COLUMNS))
    has_next = len(frame) > page_size
    frame = frame.head(page_size)
    frame.insert(0, "start", pd.to_datetime(frame["start_ns"].astype("int64"), unit="ns", utc=True))
    return TracePage(rows=frame, page=max(page, 0), has_next=has_next)


# The spans a trace page draws, by start time, and the failed ones added from the rest: a batch
# job's trace of 50,000 spans took 233 s and 450 MB to draw (a waterfall 1.4 million pixels tall).
SPANS_SHOWN = 500
FAILED_SHOWN = 100


def get_trace(conn: Connection, trace_id: str, tenant: str | None) -> TraceDetail | None:
    """The trace and its first ``SPANS_SHOWN`` spans by start, with up to ``FAILED_SHOWN``
    failed ones from the rest (``next_offset`` is set when spans were left out), or ``None``;
    any tenant's without one."""
    detail = queries.get_trace(conn, tenant, trace_id, limit=SPANS_SHOWN)
    if detail is None or detail.next_offset is None:
        return detail
    shown = {span["span_id"] for span in detail.spans}
    failed = queries.failed_spans(conn, detail.trace.tenant, detail.trace.trace_id, FAILED_SHOWN)
    spans = detail.spans + [span for span in failed if span["span_id"] not in shown]
    spans.sort(key=lambda span: (span["start_ns"], span["span_id"]))
    return replace(detail, spans=spans)


def error_traces(conn: Connection, window: Window) -> int:
    """Stored traces in the window with at least one failed span (a retried 429 counts)."""
    conds = trace_conditions(conn, window.tenant, window.start_ns, window.end_ns, TraceFilter())
    query = select(func.count()).select_from(Trace).where(*conds, Trace.status == "error")
    return int(conn.execute(query).scalar_one())
