"""Read queries of the store: trace lists and one trace in full (stats: :mod:`stats`).

Every function takes a SQLAlchemy ``Session`` and a ``tenant`` (``None`` means an admin
reading all tenants). Aggregates come from the rollup tables only, never from scanning
spans, through :mod:`glassline.collector.storage.aggregates` (as the dashboard and alerts).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from glassline.collector.records import MAX_NS
from glassline.collector.storage import aggregates, search, seen
from glassline.collector.storage.models import Span, Trace

__all__ = [
    "MAX_NS",
    "MAX_TRACE_SPANS",
    "QueryError",
    "TraceDetail",
    "TraceFilter",
    "TracePage",
    "TraceSummary",
    "failed_spans",
    "get_trace",
    "list_traces",
    "trace_conditions",
]

_NS = 1_000_000_000
MAX_LIMIT = 1000


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
    next_offset: int | None = None  # a long trace's next page of spans starts here


# The most spans one read of a trace returns: a batch job under one workflow is a trace of
# 50,000 spans, 134 MB as JSON, which a read held whole (+245 MB in the collector); pages of
# 10,000 still took the collector +402 MB with 8 reads at once, +834 MB with 32.
MAX_TRACE_SPANS = 2_000


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
        # type(), not isinstance: a bool is an int, and SQL compares no column with True.
        if not (type(start) is int and isinstance(tenant, str) and isinstance(trace_id, str)):
            raise ValueError
        if not 0 <= start <= MAX_NS:
            raise ValueError
        for text in (tenant, trace_id):
            text.encode("utf-8")  # a lone surrogate would fail in the SQL driver instead
            if "\x00" in text:  # never in a cursor made here; PostgreSQL refuses it (a 500)
                raise ValueError
    # UnicodeEncodeError is a ValueError; RecursionError: JSON nested past the parser's depth.
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise QueryError("cursor", "not a cursor returned by this API") from None
    return start, tenant, trace_id


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Trace list filters shared by the query API and the dashboard; empty means "any".

    ``status="error"`` keeps traces with any failed span; ``outcome="error"`` keeps failed
    requests (the root span failed). ``model`` matches every snapshot of the canonical model.
    ``text`` is a full-text search of the stored content (:func:`search.parse` syntax).
    """

    user_id: str = ""
    session_id: str = ""
    model: str = ""
    stage: str = ""
    route: str = ""
    service_version: str = ""  # some span's resource service.version
    prompt_version: str = ""  # some span's prompt template version
    api_key: str = ""  # the name of the key the trace's spans came with
    status: str = ""  # "", "ok", "error"
    outcome: str = ""  # "", "ok", "error"
    min_cost_usd: float = 0.0
    min_duration_ms: float = 0.0
    name_contains: str = ""
    text: str = ""


def _span_exists(*conditions: Any) -> Any:
    return exists().where(Span.tenant == Trace.tenant, Span.trace_id == Trace.trace_id, *conditions)


def _span_value_is(dimension: str, value: str) -> Any:
    """Some span's value of ``dimension`` (see ``seen.STORED_VALUES``) is ``value`` (None
    without a value to look for)."""
    return _span_exists(seen.STORED_VALUES[dimension] == value) if value else None


def trace_conditions(
    conn: Connection | Session,
    tenant: str | None,
    start_ns: int | None,
    end_ns: int | None,
    f: TraceFilter,
) -> list[ColumnElement[bool]]:
    """WHERE conditions on ``traces`` for a tenant (None: all), a start range and ``f``."""
    scope: list[ColumnElement[bool] | None] = [
        (Trace.tenant == tenant) if tenant is not None else None,
        (Trace.start_ns >= start_ns) if start_ns is not None else None,
        (Trace.start_ns < end_ns) if end_ns is not None else None,
    ]
    conds: list[ColumnElement[bool] | None] = [
        *scope,
        (Trace.user_id == f.user_id) if f.user_id else None,
        (Trace.session_id == f.session_id) if f.session_id else None,
        (Trace.status == f.status) if f.status else None,
        (Trace.cost_usd >= f.min_cost_usd) if f.min_cost_usd > 0 else None,
        (Trace.duration_ms >= f.min_duration_ms) if f.min_duration_ms > 0 else None,
        _span_value_is("stage", f.stage),
        _span_value_is("route", f.route),
        _span_value_is("service_version", f.service_version),
        _span_value_is("prompt_version", f.prompt_version),
        _span_value_is("api_key", f.api_key),
        _span_exists(Span.name.ilike(f"%{seen.escape_like(f.name_contains)}%", escape="\\"))
        if f.name_contains
        else None,
    ]
    connection = _connection(conn)
    names = aggregates.model_names(connection, [f.model]) if f.model else []
    if names:
        conds.append(_span_exists(Span.model.in_(names)))
    rare_cost = f.min_cost_usd > 0 and _rarely_costs(connection, scope, f.min_cost_usd)
    wanted = _wanted(f, names, rare_cost)
    conds.append(seen.start_condition(connection, tenant, start_ns, end_ns, wanted))
    if f.text:
        try:
            query = search.parse(f.text)
        except ValueError as exc:
            raise QueryError("q", str(exc)) from None
        found = search.matching_traces(connection, query, tenant, start_ns, end_ns)
        conds.append(tuple_(Trace.tenant, Trace.trace_id).in_(found))
    if f.outcome:
        root = Span.span_id == Trace.root_span_id
        failed = _span_exists(root, Span.status == "error")
        conds.append(failed if f.outcome == "error" else ~failed)
    return [c for c in conds if c is not None]


# A min_cost that this many of the newest traces of the range reach fills its page from
# them: the hours seen's record holds are not read (see _rarely_costs).
_NEWEST_PROBED, _COMMON = 100, 2


def _rarely_costs(conn: Connection, scope: list[ColumnElement[bool] | None], usd: float) -> bool:
    """Whether fewer than _COMMON of the newest _NEWEST_PROBED traces in ``scope`` (tenant and
    range) cost ``usd`` or more. Reading the hours that can hold a trace that costly pays for
    a bound few traces reach (a miss read every trace of the range: 22-110 ms on 91,746
    traces on SQLite, 0.7-1.5 ms so); for a bound most reach it took 1.4-2 ms of a page that
    takes 1 ms without, and pruned nothing (this count costs 0.3-0.5 ms)."""
    newest = (
        select(Trace.cost_usd)
        .where(*(c for c in scope if c is not None))
        .order_by(Trace.start_ns.desc())
        .limit(_NEWEST_PROBED)
        .subquery()
    )
    found = select(func.count()).select_from(newest).where(newest.c.cost_usd >= usd)
    return int(conn.scalar(found) or 0) < _COMMON


def _wanted(f: TraceFilter, models: list[str], rare_cost: bool) -> seen.Wanted:
    """The values of ``f`` recorded in ``seen_values``: the list scans only the hours where
    each was seen. Without it, a filter that matched nothing read every span of the range
    (2.7 s a ``?name=`` miss on 2.46M spans), and a value seen once long ago every trace from
    there to the start of the range, to fill its page; a ``min_cost`` that matched nothing
    every trace of the range."""
    wanted: dict[str, list[str]] = {
        "stage": [f.stage] if f.stage else [],
        "model": models,
        "route": [f.route] if f.route else [],
        "service_version": [f.service_version] if f.service_version else [],
        "prompt_version": [f.prompt_version] if f.prompt_version else [],
        "api_key": [f.api_key] if f.api_key else [],
        seen.NAME: [f.name_contains] if f.name_contains else [],
        seen.COST: seen.costs_from(f.min_cost_usd) if rare_cost else [],
    }
    return {dimension: values for dimension, values in wanted.items() if values}


def _connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


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
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TracePage:
    """Traces newest first (by start), filtered; page on with ``next_cursor``.

    ``text`` searches the stored content (see :mod:`glassline.collector.storage.search`).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
    q: Select[Any] = select(*_SUMMARY_COLUMNS)
    f = TraceFilter(
        user_id=user or "",
        session_id=session_id or "",
        model=model or "",
        status=status or "",
        min_cost_usd=min_cost or 0.0,
        min_duration_ms=min_duration_ms or 0.0,
        name_contains=name_contains or "",
        text=text or "",
    )
    conditions = trace_conditions(session, tenant, start_ns, end_ns, f)
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
    q = q.where(*conditions)
    q = q.order_by(Trace.start_ns.desc(), Trace.tenant.desc(), Trace.trace_id.desc())
    rows = session.execute(q.limit(limit + 1)).mappings().all()
    traces = [_summary(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(traces[-1]) if len(rows) > limit else None
    return TracePage(traces=traces, next_cursor=next_cursor)


def _tenants() -> Select[Any]:
    """Every tenant with a stored trace, one index seek each (a loose index scan).

    An admin opens a trace by its id alone: looked up in each of them through the primary key,
    which spares every write an index on ``trace_id`` alone (a random page per new trace).
    The list is read first, not joined: a join let PostgreSQL scan the whole key for the id.
    """
    found = select(func.min(Trace.tenant).label("tenant")).cte("tenants", recursive=True)
    after = select(func.min(Trace.tenant)).where(Trace.tenant > found.c.tenant)
    found = found.union_all(select(after.scalar_subquery()).where(found.c.tenant.is_not(None)))
    return select(found.c.tenant).where(found.c.tenant.is_not(None))


def get_trace(
    session: Session | Connection,
    tenant: str | None,
    trace_id: str,
    *,
    limit: int = MAX_TRACE_SPANS,
    offset: int = 0,
) -> TraceDetail | None:
    """A trace's summary and its spans from ``offset`` by start time, at most ``limit`` of them
    (``next_offset`` says where more begin), or ``None`` if the tenant has no such trace.

    An admin (``tenant=None``) gets the most recent trace with this id across tenants.
    """
    trace_id = trace_id.strip().lower()
    # No ORDER BY in SQL: it would tempt the planner into walking the (tenant, start_ns)
    # index instead of the primary key (1M spans: 155 ms instead of 2 ms).
    tenants = [tenant] if tenant is not None else session.execute(_tenants()).scalars().all()
    q = select(*_SUMMARY_COLUMNS).where(Trace.tenant.in_(tenants), Trace.trace_id == trace_id)
    rows = session.execute(q).mappings().all()
    if not rows:
        return None
    row = max(rows, key=lambda r: r["start_ns"])
    limit = min(limit, MAX_TRACE_SPANS)
    of_trace = (Span.tenant == row["tenant"], Span.trace_id == trace_id)
    # The page's ids are sorted first, then its rows read: sorting whole rows (content and
    # all) took 1-2 s for a 1,000-span page of a 50,000-span trace, the ids 0.1 s. "+ 0":
    # ordered by an expression, not by the indexed column, for the planner reason above.
    page_ids = (
        select(Span.span_id)
        .where(*of_trace)
        .order_by(Span.start_ns + 0, Span.span_id)
        .limit(limit + 1)
        .offset(offset)
    )
    spans = session.execute(
        select(Span.__table__).where(*of_trace, Span.span_id.in_(page_ids))
    ).mappings()
    page = sorted((dict(s) for s in spans), key=lambda s: (s["start_ns"], s["span_id"]))
    more = len(page) > limit
    return TraceDetail(
        trace=_summary(row), spans=page[:limit], next_offset=offset + limit if more else None
    )


def failed_spans(
    session: Session | Connection, tenant: str, trace_id: str, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` of a trace's failed spans (every column), by start time: a long trace's
    failures, wherever they fall among its pages."""
    spans = session.execute(
        select(Span.__table__)
        .where(Span.tenant == tenant, Span.trace_id == trace_id, Span.status == "error")
        .order_by(Span.start_ns + 0, Span.span_id)
        .limit(limit)
    ).mappings()
    return [dict(s) for s in spans]
