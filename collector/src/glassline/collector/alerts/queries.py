"""Aggregates over the rollup tables: the only data alert rules are evaluated on.

Rows of ``rollups`` / ``user_rollups`` cover one minute each (``minute`` = Unix seconds at its
start); a window ``[start, end)`` takes the rows whose minute starts in it, so evaluation cost
depends on the window and the number of keys, never on the number of spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from ddsketch import DDSketch
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from glassline.collector.alerts.config import Filters
from glassline.collector.storage import sketch as sketches
from glassline.collector.storage.models import HourRollup, Rollup, UserRollup

__all__ = [
    "Key",
    "Totals",
    "key_dims",
    "key_text",
    "latency_sketches",
    "make_key",
    "rollup_filters",
    "rollup_ranges",
    "totals",
]

# A key is the tenant plus the rule's ``per`` dimensions, as sorted (name, value) pairs.
Key = tuple[tuple[str, str], ...]

_ROLLUP_DIMS = ("stage", "model", "route")
# Rollup columns summed into Totals, in field order, with their Python types.
_MEASURES = (
    "count", "errors", "input_tokens", "output_tokens", "cost_usd", "cache_hits",
    "cache_lookups", "retries",
)  # fmt: skip
_MEASURE_TYPES = (int, int, int, int, float, int, int, int)


@dataclass(slots=True)
class Totals:
    count: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    cache_lookups: int = 0
    retries: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Totals) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def key_dims(key: Key) -> dict[str, str]:
    return dict(key)


def key_text(key: Key) -> str:
    """The stored key: the dimensions other than the tenant, ``name=value`` joined by commas."""
    return ",".join(f"{k}={v}" for k, v in key if k != "tenant")


def make_key(tenant: str, per: Sequence[str], values: Sequence[Any]) -> Key:
    pairs = [("tenant", tenant), *((d, str(v or "")) for d, v in zip(per, values, strict=True))]
    return tuple(sorted(pairs))


def rollup_filters(
    stmt: Select[Any], table: Any, filters: Filters, span_kinds: Sequence[str] | None
) -> Any:
    if filters.tenant is not None:
        stmt = stmt.where(table.tenant.in_(filters.tenant))
    for dim in _ROLLUP_DIMS:
        values = getattr(filters, dim)
        if values is not None:
            stmt = stmt.where(getattr(table, dim).in_(values))
    kinds = filters.span_kind if filters.span_kind is not None else span_kinds
    if kinds is not None:
        stmt = stmt.where(table.kind.in_(kinds))
    return stmt


def rollup_ranges(start: int, end: int) -> list[tuple[Any, Any, int, int]]:
    """(table, bucket column, lo, hi) pieces covering minutes in ``[start, end)``.

    Whole hours come from ``rollups_hourly`` so a month-long budget sums ~720 rows per key
    instead of ~43,000 (and an hour-long window one instead of 60); the ragged edges come
    from the minute rollups.
    """
    lo = start - start % 60
    first_hour = lo + (-lo) % 3600
    last_hour = end - end % 3600
    if last_hour - first_hour < 3600:
        return [(Rollup, Rollup.minute, lo, end)]
    return [
        (Rollup, Rollup.minute, lo, first_hour),
        (HourRollup, HourRollup.hour, first_hour, last_hour),
        (Rollup, Rollup.minute, last_hour, end),
    ]


def totals(
    conn: Connection,
    start: int,
    end: int,
    filters: Filters,
    per: Sequence[str],
    span_kinds: Sequence[str] | None = None,
) -> dict[Key, Totals]:
    """Sums per key over minutes in ``[start, end)`` (``span_kinds`` = default kind filter)."""
    if "user" in per or filters.user is not None:
        return _user_totals(conn, start, end, filters, per)
    out: dict[Key, Totals] = {}
    for table, bucket, lo, hi in rollup_ranges(start, end):
        if hi <= lo:
            continue
        dims = [getattr(table, d) for d in per]
        measures = [func.sum(getattr(table, name)) for name in _MEASURES]
        stmt = select(table.tenant, *dims, *measures).where(bucket >= lo, bucket < hi)
        stmt = rollup_filters(stmt, table, filters, span_kinds).group_by(table.tenant, *dims)
        n = len(per) + 1
        for row in conn.execute(stmt):
            found = Totals(*(kind(v or 0) for kind, v in zip(_MEASURE_TYPES, row[n:], strict=True)))
            key = make_key(row[0], per, row[1:n])
            if key in out:
                out[key].add(found)
            else:
                out[key] = found
    return out


def _user_totals(
    conn: Connection, start: int, end: int, filters: Filters, per: Sequence[str]
) -> dict[Key, Totals]:
    by_user = "user" in per
    dims = [UserRollup.user_id] if by_user else []
    stmt = select(
        UserRollup.tenant,
        *dims,
        func.sum(UserRollup.requests),
        func.sum(UserRollup.errors),
        func.sum(UserRollup.input_tokens),
        func.sum(UserRollup.output_tokens),
        func.sum(UserRollup.cost_usd),
    ).where(UserRollup.minute >= start - start % 60, UserRollup.minute < end)
    if filters.tenant is not None:
        stmt = stmt.where(UserRollup.tenant.in_(filters.tenant))
    if filters.user is not None:
        stmt = stmt.where(UserRollup.user_id.in_(filters.user))
    stmt = stmt.group_by(UserRollup.tenant, *dims)
    out: dict[Key, Totals] = {}
    for row in conn.execute(stmt):
        n = 2 if by_user else 1
        s = [v or 0 for v in row[n:]]
        key = make_key(row[0], ["user"] if by_user else [], row[1:n])
        out[key] = Totals(int(s[0]), int(s[1]), int(s[2]), int(s[3]), float(s[4]))
    return out


def latency_sketches(
    conn: Connection,
    start: int,
    end: int,
    filters: Filters,
    per: Sequence[str],
    span_kinds: Sequence[str] | None = None,
) -> dict[Key, DDSketch]:
    """One merged latency sketch per key over minutes in ``[start, end)``."""
    dims = [getattr(Rollup, d) for d in per]
    stmt = select(Rollup.tenant, *dims, Rollup.latency_sketch).where(
        Rollup.minute >= start - start % 60, Rollup.minute < end
    )
    stmt = rollup_filters(stmt, Rollup, filters, span_kinds)
    out: dict[Key, DDSketch] = {}
    for row in conn.execute(stmt):
        key = make_key(row[0], per, row[1:-1])
        merged = out.setdefault(key, sketches.new_sketch())
        if row[-1]:
            merged.merge(sketches.decode(row[-1]))
    return out
