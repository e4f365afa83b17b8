"""Deleting expired rows a bounded number at a time.

A background job's delete of everything past a cutoff is small while the collector runs (an
interval's worth), but after days of downtime, or a retention shortened in the config, it
meets millions of rows: as one statement that held SQLite's single write lock (every export
refused meanwhile) or made one huge PostgreSQL transaction. :func:`delete_some` takes at
most ``limit`` rows, so a caller deletes in short transactions (``Store.delete_expired``);
:func:`purge_traces` does the same for traces and their spans.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Table, delete, select, tuple_

from glassline.collector.storage.models import Span, Trace

__all__ = ["PURGE_ROWS", "delete_some", "purge_traces"]

# Rows one transaction deletes at most (as :data:`.retention.PURGE_SPANS` does for spans): 5,000
# rollup rows or content events took 28-49 ms, 5,000 spans with their traces up to 140 ms.
PURGE_ROWS = 5_000


def delete_some(conn: Connection, table: Table, where: ColumnElement[bool], limit: int) -> int:
    """Delete up to ``limit`` rows of ``table`` matching ``where``; returns how many went."""
    key = list(table.primary_key)
    some = select(*key).where(where).limit(limit)
    target = key[0] if len(key) == 1 else tuple_(*key)
    return int(conn.execute(delete(table).where(target.in_(some))).rowcount)


def purge_traces(
    conn: Connection, cutoff_ns: int, chunk: int, max_spans: int
) -> tuple[int, int, bool]:
    """Delete up to ``chunk`` traces started before ``cutoff_ns`` with their spans, as many as
    fit in ``max_spans`` spans by their summaries' span counts. A first trace larger than that
    loses ``max_spans`` of its spans, and its row once none is left. Returns the spans and
    traces deleted and whether expired traces may remain."""
    rows = conn.execute(
        select(Trace.tenant, Trace.trace_id, Trace.span_count)
        .where(Trace.start_ns < cutoff_ns)
        .limit(chunk)
    ).all()
    by_tenant: dict[str, list[str]] = {}
    budget, taken = max_spans, 0
    for tenant, trace_id, span_count in rows:
        if span_count > budget:
            break
        budget -= span_count
        taken += 1
        by_tenant.setdefault(tenant, []).append(trace_id)
    if rows and not taken:
        return _purge_spans_of(conn, rows[0].tenant, rows[0].trace_id, max_spans)
    spans = traces = 0
    for tenant, ids in by_tenant.items():
        spans += conn.execute(
            delete(Span).where(Span.tenant == tenant, Span.trace_id.in_(ids))
        ).rowcount
        traces += conn.execute(
            delete(Trace).where(Trace.tenant == tenant, Trace.trace_id.in_(ids))
        ).rowcount
    return spans, traces, taken < len(rows) or len(rows) == chunk


def _purge_spans_of(
    conn: Connection, tenant: str, trace_id: str, max_spans: int
) -> tuple[int, int, bool]:
    """Delete up to ``max_spans`` spans of one expired trace, and its row once none is left."""
    of_trace = (Span.tenant == tenant, Span.trace_id == trace_id)
    some = select(Span.span_id).where(*of_trace).limit(max_spans)
    spans = conn.execute(delete(Span).where(*of_trace, Span.span_id.in_(some))).rowcount
    if spans == max_spans:
        return spans, 0, True
    traces = conn.execute(
        delete(Trace).where(Trace.tenant == tenant, Trace.trace_id == trace_id)
    ).rowcount
    return spans, traces, True
