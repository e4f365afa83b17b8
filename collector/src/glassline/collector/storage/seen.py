"""Which values the spans of a tenant's traces had, by the hour the traces started.

The trace list scans the newest traces first for one with a matching span. Without help a
filter that matched nothing read every span of the range (``?name=`` 2.7 s a call on a
2.46M-span SQLite store), and a value seen once long ago read every trace from there to the
start of the range to fill its page. Every write therefore records, for the spans it stores,
one ``seen_values`` row per tenant x dimension x value x hour of the trace's start, and the
list scans only the hours where each filter's value was seen.

The start a write knows can differ from the trace's final one: the root span starts first
but often arrives last. A write that moves a stored trace's start into another hour (a root
that started before the hour of the calls exported ahead of it, or one whose clock is ahead)
records the values of the trace's stored spans again under the new hour, read back from
``spans`` (:func:`record`'s ``moved``). Every span's values are therefore recorded under the
hour its trace starts in now, whatever order the spans arrived in, and a recorded hour stands
for the traces that started in it alone. A value past the store's bound on
distinct values is recorded as :data:`~glassline.collector.storage.cardinality.OTHER`, which
every filter matches.

A trace's cost is recorded the same way, as dimension :data:`COST`: for each write and hour,
the bucket (:func:`cost_bucket`, a quarter of a doubling wide) of the costliest trace it
wrote that started in that hour, with the trace's cost and start as stored after the write.
A trace's last write records its final cost under its final hour, so an hour's recorded
buckets reach at least the bucket of its costliest trace, and ``?min_cost=`` reads only the
hours that can hold a trace that costly (a miss read every trace of the range: 29-48 ms on
91,746 traces). One row per hour and write at most, mostly one already stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    cast,
    false,
    func,
    or_,
    select,
    tuple_,
)

from glassline.collector.records import SpanRecord
from glassline.collector.storage._insert import insert_missing
from glassline.collector.storage.cardinality import OTHER
from glassline.collector.storage.models import ROLLUP_DIMENSIONS, SeenValue, Span, Trace
from glassline.collector.storage.rollup import Dims, bucket_of
from glassline.semconv import attributes as attrs

__all__ = [
    "COST",
    "DIMENSIONS",
    "HOUR_S",
    "NAME",
    "STORED_VALUES",
    "Wanted",
    "changes_hour",
    "cost_bucket",
    "costs_from",
    "escape_like",
    "record",
    "start_condition",
]

NAME = "name"  # the span name's dimension (matched by substring)
COST = "cost"  # the trace cost's dimension: buckets of the costliest trace of an hour
# The rollup dimensions the trace list filters on, by their position in ROLLUP_DIMENSIONS.
DIMENSIONS = {
    d: ROLLUP_DIMENSIONS.index(d)
    for d in ("stage", "model", "route", "service_version", "prompt_version", "api_key")
}
HOUR_S = 3600
_NS = 1_000_000_000
# Ranges one condition holds at most: beyond, the closest ones are joined (a superset).
MAX_RANGES = 64
_KEY = ("tenant", "dimension", "value", "hour")
# Cost buckets: _COST_STEPS a doubling, from 2**_COST_LOW USD (below: the lowest bucket) to
# 2**_COST_HIGH (above: the highest). A bound's buckets are one IN list: at most 217 values.
_COST_STEPS = 4
_COST_LOW, _COST_HIGH = -30, 24


def changes_hour(stored_ns: int, merged_ns: int) -> bool:
    """Whether a write moved a stored trace's start (``stored_ns``) into another hour: its
    stored spans' values were recorded under the old one."""
    return bucket_of(stored_ns, HOUR_S) != bucket_of(merged_ns, HOUR_S)


def cost_bucket(usd: float) -> int:
    """The bucket of a cost > 0 USD: a larger cost never falls in a lower bucket."""
    if usd >= 2.0**_COST_HIGH:  # inf too, which log2 would not floor
        return _COST_HIGH * _COST_STEPS
    return max(math.floor(math.log2(usd) * _COST_STEPS), _COST_LOW * _COST_STEPS)


def costs_from(usd: float) -> list[str]:
    """The recorded values (buckets) of :data:`COST` that a cost of ``usd`` (> 0) or more
    falls in."""
    return [str(b) for b in range(cost_bucket(usd), _COST_HIGH * _COST_STEPS + 1)]


def _costliest(
    starts: Mapping[tuple[str, str], int], costs: Mapping[tuple[str, str], float]
) -> set[tuple[str, str, str, int]]:
    """One COST row per tenant and hour: the bucket of the costliest of ``costs``' traces."""
    most: dict[tuple[str, int], float] = {}
    for (tenant, trace_id), usd in costs.items():
        if usd > 0:  # a bound is > 0: a free trace never matches one
            key = (tenant, bucket_of(starts[tenant, trace_id], HOUR_S))
            most[key] = max(usd, most.get(key, 0.0))
    return {(t, COST, str(cost_bucket(usd)), hour) for (t, hour), usd in most.items()}


def record(
    conn: Connection,
    spans: Iterable[SpanRecord],
    starts: Mapping[tuple[str, str], int],
    dims: Dims,
    name_of: Callable[[SpanRecord], str],
    moved: Collection[tuple[str, str]] = (),
    costs: Mapping[tuple[str, str], float] | None = None,
) -> None:
    """Record the values of ``spans`` (just stored) under their traces' ``starts``, and those
    of every stored span of the ``moved`` traces (whose start this write moved to another
    hour, see :func:`changes_hour`), and the bucket of the costliest of the written traces'
    ``costs`` (as stored after this write) by hour.

    ``dims`` and ``name_of`` give a span's values as the rollups count them (the store's bound
    folds a value past it into OTHER); the values read back for ``moved`` are recorded as
    stored, unbounded (one trace's spans, rarely). Rows already stored are left as they are.
    """
    rows = _costliest(starts, costs or {})
    for span in spans:
        tenant = span.tenant
        hour = bucket_of(starts.get((tenant, span.trace_id), span.start_ns), HOUR_S)
        values = dims(span)
        for dimension, position in DIMENSIONS.items():
            if values[position]:
                rows.add((tenant, dimension, values[position], hour))
        name = name_of(span)
        if name:
            rows.add((tenant, NAME, name, hour))
    keys = sorted(moved)
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        for tenant, trace_id, *stored in conn.execute(_STORED, {"keys": chunk}):
            hour = bucket_of(starts[tenant, trace_id], HOUR_S)
            rows.update((tenant, d, v, hour) for d, v in zip(_STORED_AS, stored, strict=True) if v)
    insert_missing(
        conn, SeenValue.__table__, _KEY, [dict(zip(_KEY, r, strict=True)) for r in sorted(rows)]
    )


def _json_text(column: Any, key: str) -> ColumnElement[str]:
    # A number matches its text too (Langfuse numbers its prompt versions: 7 is "7"), as the
    # rollups, which key on text, count it. The cast turns SQLite's JSON number into its
    # text; PostgreSQL's ->> is text already.
    return cast(column[key].as_string(), String)


# A stored span's value of each dimension, as the trace list's filters compare it and as a
# moved trace's values are read back.
STORED_VALUES = {
    NAME: Span.name,
    "stage": Span.stage,
    "model": Span.model,
    "route": Span.route,
    "service_version": _json_text(Span.resource, attrs.SERVICE_VERSION),
    "prompt_version": _json_text(Span.attributes, attrs.PROMPT_VERSION),
    "api_key": _json_text(Span.attributes, attrs.API_KEY_NAME),
}
assert set(STORED_VALUES) == {NAME, *DIMENSIONS}  # every value the list filters on
_STORED_AS = tuple(STORED_VALUES)
_STORED = (
    select(Span.tenant, Span.trace_id, *STORED_VALUES.values())
    .where(tuple_(Span.tenant, Span.trace_id).in_(bindparam("keys", expanding=True)))
    .distinct()
)
_CHUNK = 400  # traces per read: a bounded statement on both databases


# A filter: dimension -> the values any of which a span must have; for NAME, one substring.
Wanted = Mapping[str, Sequence[str]]


def start_condition(
    conn: Connection, tenant: str | None, start_ns: int | None, end_ns: int | None, wanted: Wanted
) -> ColumnElement[bool] | None:
    """A condition on ``traces.start_ns``: the hours where a trace whose spans have every
    ``wanted`` value can have started (``false()`` if none can), or None with nothing wanted."""
    ranges: list[tuple[int, int]] | None = None
    for dimension, values in wanted.items():
        found = _ranges(_hours(conn, tenant, start_ns, end_ns, dimension, values))
        ranges = found if ranges is None else _intersect(ranges, found)
    if ranges is None:
        return None
    ranges = _join(ranges, MAX_RANGES)
    if not ranges:
        return false()
    low, high = ranges[0][0], ranges[-1][1]
    within = or_(*(and_(Trace.start_ns >= lo, Trace.start_ns < hi) for lo, hi in ranges))
    # The outer bounds let the (tenant, start_ns) index bound the scan; the ranges filter it.
    return and_(Trace.start_ns >= low, Trace.start_ns < high, within)


_c = SeenValue.__table__.c
_SCOPE = (
    _c.dimension == bindparam("dimension"),
    _c.hour > bindparam("lo"),
    _c.hour < bindparam("hi"),
)
_FAR = HOUR_S  # hours further apart (not adjacent) start ranges of their own


def _edges(hours: Select[Any]) -> Select[Any]:
    """The first and last hour of each run of ``hours`` (DISTINCT, any order) closer than
    _FAR, ascending, with the gap before each: a value seen in every hour of 30 days is two
    rows, not 720 (fetching those was most of the cost of a filtered page)."""
    h = hours.subquery()
    gap_before = h.c.hour - func.lag(h.c.hour).over(order_by=h.c.hour)
    gap_after = func.lead(h.c.hour).over(order_by=h.c.hour) - h.c.hour
    gaps = select(h.c.hour, gap_before.label("before"), gap_after.label("after")).subquery()
    edge = or_(
        gaps.c.before.is_(None), gaps.c.before > _FAR, gaps.c.after.is_(None), gaps.c.after > _FAR
    )
    return select(gaps.c.hour, gaps.c.before).where(edge).order_by(gaps.c.hour)


def _names(of_tenant: bool) -> Select[tuple[str]]:
    """The recorded span names (a tenant's, or every tenant's) containing ``pattern``, and
    OTHER, read one index seek each (a loose index scan), not a row per name and hour: the
    rows are the names times the hours they were kept."""
    mine: list[ColumnElement[bool]] = [_c.dimension == NAME]
    if of_tenant:
        mine.append(_c.tenant == bindparam("tenant"))
    found = select(func.min(_c.value).label("value")).where(*mine).cte("names", recursive=True)
    after = select(func.min(_c.value)).where(*mine, _c.value > found.c.value)
    found = found.union_all(select(after.scalar_subquery()).where(found.c.value.is_not(None)))
    like = found.c.value.ilike(bindparam("pattern"), escape="\\")
    return select(found.c.value).where(or_(like, found.c.value == OTHER))


def _runs(of_tenant: bool, of_name: bool) -> Select[Any]:
    """:func:`_edges` of the hours a value (or, of_name, a name like ``pattern``) was seen:
    one statement, one round trip, built once (the list asks on every filtered page)."""
    values: Any = _names(of_tenant) if of_name else bindparam("values", expanding=True)
    where = [_c.value.in_(values), *_SCOPE]
    if of_tenant:
        where.append(_c.tenant == bindparam("tenant"))
    return _edges(select(_c.hour).where(*where).distinct())


_RUNS = {(t, n): _runs(t, n) for t in (True, False) for n in (True, False)}


def _hours(
    conn: Connection,
    tenant: str | None,
    start_ns: int | None,
    end_ns: int | None,
    dimension: str,
    values: Sequence[str],
) -> list[tuple[int, int | None]]:
    """The first and last hours (Unix s, ascending, with the gap before each) of the runs of
    hours in which ``dimension`` had one of ``values`` (for NAME, a name containing
    ``values[0]``)."""
    params: dict[str, Any] = {
        "dimension": dimension,
        # A row covers the traces that started within its hour.
        "lo": -1 if start_ns is None else start_ns // _NS - HOUR_S,
        "hi": _NO_END if end_ns is None else -(-end_ns // _NS),
        "tenant": tenant,
        "values": [*values, OTHER],
    }
    if dimension == NAME:
        params["pattern"] = f"%{escape_like(values[0])}%"
    query = _RUNS[tenant is not None, dimension == NAME]
    return [tuple(r) for r in conn.execute(query, params).all()]


_NO_END = 2**62


def _ranges(edges: Sequence[tuple[int, int | None]]) -> list[tuple[int, int]]:
    """The [start, end) ranges in ns in which the traces of runs of hours can have started
    (from a run's first hour to its last hour's end)."""
    ranges: list[tuple[int, int]] = []
    for hour, before in edges:
        if before is None or before > _FAR:
            ranges.append((hour * _NS, (hour + HOUR_S) * _NS))
        else:
            ranges[-1] = (ranges[-1][0], (hour + HOUR_S) * _NS)
    return ranges


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where two ascending lists of disjoint ranges overlap."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _join(ranges: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """At most ``most`` ranges covering ``ranges``: the narrowest gaps are closed first."""
    if len(ranges) <= most:
        return ranges
    gaps = sorted(range(1, len(ranges)), key=lambda i: ranges[i][0] - ranges[i - 1][1])
    keep = sorted(gaps[len(ranges) - most :])  # the widest gaps stay open
    joined, begin = [], 0
    for i in [*keep, len(ranges)]:
        joined.append((ranges[begin][0], ranges[i - 1][1]))
        begin = i
    return joined


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (by a backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
