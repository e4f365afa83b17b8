"""Which values the spans of a tenant's traces had, by the hour the traces started.

The trace list scans the newest traces first for one with a matching span. Without help a
filter that matched nothing read every span of the range (``?name=`` 2.7 s a call on a
2.46M-span SQLite store), and a value seen once long ago read every trace from there to the
start of the range to fill its page. Every write therefore records, for the spans it stores,
one ``seen_values`` row per tenant x dimension x value x hour of the trace's start, and the
list scans only the hours where each filter's value was seen.

The start a write knows can be later than the trace's final one: the root span starts first
but often arrives last. A recorded hour therefore also stands for the hour before it
(:data:`SLACK_S`), so a trace is found unless its root started more than an hour before the
spans written ahead of it. A value past the store's bound on distinct values is recorded as
:data:`~glassline.collector.storage.cardinality.OTHER`, which every filter matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage._merge import insert_missing
from glassline.collector.storage.cardinality import OTHER
from glassline.collector.storage.models import ROLLUP_DIMENSIONS, SeenValue, Trace
from glassline.collector.storage.rollup import Dims, bucket_of

__all__ = [
    "DIMENSIONS",
    "HOUR_S",
    "NAME",
    "SLACK_S",
    "Wanted",
    "escape_like",
    "record",
    "start_condition",
]

NAME = "name"  # the span name's dimension (matched by substring)
# The rollup dimensions the trace list filters on, by their position in ROLLUP_DIMENSIONS.
DIMENSIONS = {
    d: ROLLUP_DIMENSIONS.index(d)
    for d in ("stage", "model", "route", "service_version", "prompt_version", "api_key")
}
HOUR_S = 3600
SLACK_S = 3600  # a recorded hour also stands for traces that started this much earlier
_NS = 1_000_000_000
# Ranges one condition holds at most: beyond, the closest ones are joined (a superset).
MAX_RANGES = 64
_KEY = ("tenant", "dimension", "value", "hour")


def record(
    conn: Connection,
    spans: Iterable[SpanRecord],
    starts: Mapping[tuple[str, str], int],
    dims: Dims,
    name_of: Callable[[SpanRecord], str],
) -> None:
    """Record the values of ``spans`` (just stored) under their traces' ``starts``.

    ``dims`` and ``name_of`` give a span's values as the rollups count them (the store's bound
    folds a value past it into OTHER). Rows already stored are left as they are.
    """
    rows: set[tuple[str, str, str, int]] = set()
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
    insert_missing(
        conn, SeenValue.__table__, _KEY, [dict(zip(_KEY, r, strict=True)) for r in sorted(rows)]
    )


# A filter: dimension -> the values any of which a span must have; for NAME, one substring.
Wanted = Mapping[str, Sequence[str]]


def start_condition(
    conn: Connection, tenant: str | None, start_ns: int | None, end_ns: int | None, wanted: Wanted
) -> ColumnElement[bool] | None:
    """A condition on ``traces.start_ns``: the hours where a trace whose spans have every
    ``wanted`` value can have started (``false()`` if none can), or None with nothing wanted."""
    hours: set[int] | None = None
    for dimension, values in wanted.items():
        found = _hours(conn, tenant, start_ns, end_ns, dimension, values)
        hours = found if hours is None else hours & found
    if hours is None:
        return None
    ranges = _join(_ranges(sorted(hours)), MAX_RANGES)
    if not ranges:
        return false()
    low, high = ranges[0][0], ranges[-1][1]
    within = or_(*(and_(Trace.start_ns >= lo, Trace.start_ns < hi) for lo, hi in ranges))
    # The outer bounds let the (tenant, start_ns) index bound the scan; the ranges filter it.
    return and_(Trace.start_ns >= low, Trace.start_ns < high, within)


def _hours(
    conn: Connection,
    tenant: str | None,
    start_ns: int | None,
    end_ns: int | None,
    dimension: str,
    values: Sequence[str],
) -> set[int]:
    """The hours (Unix s) where a trace with a span of one of ``values`` can have started."""
    c = SeenValue.__table__.c
    if dimension == NAME and tenant is not None:
        values = _names_like(conn, tenant, values[0])
        matches: Any = c.value.in_(values)
    elif dimension == NAME:  # an admin: every tenant's rows of the range are read
        pattern = f"%{escape_like(values[0])}%"
        matches = or_(c.value.ilike(pattern, escape="\\"), c.value == OTHER)
    else:
        matches = c.value.in_([*values, OTHER])
    where = [c.dimension == dimension, matches]
    if tenant is not None:
        where.append(c.tenant == tenant)
    if start_ns is not None:  # a row covers [hour - SLACK_S, hour + HOUR_S)
        where.append(c.hour > start_ns // _NS - HOUR_S)
    if end_ns is not None:
        where.append(c.hour < -(-end_ns // _NS) + SLACK_S)
    found = conn.execute(select(c.hour).where(*where).distinct()).scalars()
    return {h for hour in found for h in range(hour - SLACK_S, hour + 1, HOUR_S)}


def _names_like(conn: Connection, tenant: str, part: str) -> list[str]:
    """The tenant's recorded span names containing ``part`` (case-insensitive), and OTHER.

    The names are read one index seek each (a loose index scan), not a row per name and hour:
    a tenant's rows are its names times the hours it kept them.
    """
    c = SeenValue.__table__.c
    mine = (c.tenant == tenant, c.dimension == NAME)
    found = select(func.min(c.value).label("value")).where(*mine).cte("names", recursive=True)
    after = select(func.min(c.value)).where(*mine, c.value > found.c.value)
    found = found.union_all(select(after.scalar_subquery()).where(found.c.value.is_not(None)))
    pattern = f"%{escape_like(part)}%"
    matches = or_(found.c.value.ilike(pattern, escape="\\"), found.c.value == OTHER)
    return list(conn.execute(select(found.c.value).where(matches)).scalars())


def _ranges(hours: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted hours as [start, end) ranges in ns, adjacent hours joined."""
    ranges: list[tuple[int, int]] = []
    for hour in hours:
        lo, hi = hour * _NS, (hour + HOUR_S) * _NS
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    return ranges


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
