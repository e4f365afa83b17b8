"""The one way to read the rollup tables: the dashboard, alert evaluation and ``/stats`` use it.

A range ``[start, end)`` (widened to whole minutes, the rollups' resolution) is answered by
the coarsest tables that fit: whole days from ``rollups_daily``, whole hours at their edges from
``rollups_hourly`` and the ragged minutes from ``rollups``. The sums and merged sketches are
exactly those of the minute rows, but a 30-day range reads ~30 rows per key instead of ~43,000.
A chart bucket limits the tables to those whose rows fit in it (a 15-minute bucket reads
minutes only).

Models are grouped by their canonical name: ``gpt-4o-2024-08-06`` counts as ``gpt-4o`` (the
aliases genai-prices knows); the ``snapshot`` dimension keeps the name the provider answered with.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import genai_prices
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage.models import DayRollup, HourRollup, Rollup, UserRollup
from glassline.collector.storage.rollup import COUNTERS, USER_COUNTERS

__all__ = [
    "DIMENSIONS",
    "MEASURES",
    "REQUEST_KIND",
    "USER_MEASURES",
    "Piece",
    "Scope",
    "canonical_model",
    "first_seen",
    "model_names",
    "pieces",
    "sketch_rows",
    "sums",
    "user_sums",
]

MEASURES = COUNTERS
USER_MEASURES = USER_COUNTERS
# Dimensions of a rollup row; ``snapshot`` is the stored model name, ``model`` its canonical name.
# ``api_key`` is the name of the key the spans came with (auth.tenants), never the key.
DIMENSIONS = (
    "tenant",
    "kind",
    "stage",
    "model",
    "snapshot",
    "route",
    "service_version",
    "prompt_name",
    "prompt_version",
    "api_key",
)
# Dimensions a Scope filters on by value (``model`` matches every snapshot, see Scope.where).
_PLAIN = ("tenant", "kind", "stage", "route", "service_version", "prompt_name",
          "prompt_version", "api_key")  # fmt: skip
# A request is the span of a workflow (the root of a trace an instrumented app serves); its own
# status is the request's outcome.
REQUEST_KIND = "workflow"

_LEVELS = ((60, Rollup, "minute"), (3600, HourRollup, "hour"), (86_400, DayRollup, "day"))


@functools.lru_cache(maxsize=4096)
def canonical_model(name: str) -> str:
    """The model's canonical name from genai-prices (``gpt-4o-2024-08-06`` -> ``gpt-4o``).

    Names the price table does not know stay as they are.
    """
    if not name:
        return name
    try:
        return str(genai_prices.calc_price(genai_prices.Usage(), name).model.id)
    except Exception:  # unknown model, or a table problem: the stored name is the best we have
        return name


@dataclass(frozen=True, slots=True)
class Piece:
    """One rollup table and the part of the range it answers for (Unix seconds)."""

    table: Any  # Rollup, HourRollup or DayRollup
    size: int  # seconds per row
    time: Any  # its bucket column
    start: int
    end: int

    def col(self, name: str) -> Any:
        return getattr(self.table, "model" if name == "snapshot" else name)


def pieces(start: int, end: int, bucket: int | None = None) -> list[Piece]:
    """The tables answering ``[start, end)``: coarsest for whole periods, finer at the edges.

    With ``bucket`` (chart bucket seconds) only tables whose rows divide it are used.
    """
    lo, hi = start // 60 * 60, -(-end // 60) * 60
    levels = [lv for lv in _LEVELS if bucket is None or bucket % lv[0] == 0]
    return list(_split(lo, hi, levels)) if lo < hi else []


def _split(lo: int, hi: int, levels: Sequence[tuple[int, Any, str]]) -> Iterator[Piece]:
    size, table, column = levels[-1]
    if len(levels) == 1:
        yield Piece(table, size, getattr(table, column), lo, hi)
        return
    c_lo, c_hi = -(-lo // size) * size, hi // size * size
    if c_lo >= c_hi:
        yield from _split(lo, hi, levels[:-1])
        return
    if lo < c_lo:
        yield from _split(lo, c_lo, levels[:-1])
    yield Piece(table, size, getattr(table, column), c_lo, c_hi)
    if c_hi < hi:
        yield from _split(c_hi, hi, levels[:-1])


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rollup rows count: ``None`` means any; ``model`` values match every snapshot."""

    tenant: tuple[str, ...] | None = None
    kind: tuple[str, ...] | None = None
    stage: tuple[str, ...] | None = None
    model: tuple[str, ...] | None = None
    route: tuple[str, ...] | None = None
    service_version: tuple[str, ...] | None = None
    prompt_name: tuple[str, ...] | None = None
    prompt_version: tuple[str, ...] | None = None
    api_key: tuple[str, ...] | None = None
    names: tuple[str, ...] = field(default=(), compare=False)  # stored model names, see where()

    def where(self, conn: Connection, piece: Piece) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [piece.time >= piece.start, piece.time < piece.end]
        for dim in _PLAIN:
            values = getattr(self, dim)
            if values is not None:
                conds.append(piece.col(dim).in_(values))
        if self.model is not None:
            conds.append(piece.col("model").in_(model_names(conn, self.model)))
        return conds


def model_names(conn: Connection, models: Sequence[str]) -> list[str]:
    """Every stored model name whose canonical name is one of ``models`` (and ``models``)."""
    wanted = {canonical_model(m) for m in models}
    stored = conn.execute(select(DayRollup.model).distinct()).scalars()
    return sorted({*models, *(m for m in stored if canonical_model(m) in wanted)})


def _key(piece: Piece, by: Sequence[str], bucket: int | None) -> list[Any]:
    cols = [piece.col(d).label(d) for d in by]
    if bucket:
        cols.insert(0, (piece.time - piece.time % bucket).label("bucket"))
    return cols


def _canonical(by: Sequence[str], values: Sequence[Any], offset: int) -> tuple[Any, ...]:
    key = list(values)
    for i, dim in enumerate(by):
        if dim == "model":
            key[offset + i] = canonical_model(key[offset + i] or "")
    return tuple(key)


def sums(
    conn: Connection,
    start: int,
    end: int,
    *,
    by: Sequence[str] = (),
    scope: Scope = Scope(),
    bucket: int | None = None,
) -> dict[tuple[Any, ...], dict[str, float]]:
    """Every measure summed per key: ``(bucket?, *by)`` -> {measure: sum}."""
    _check(by)
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    for piece in pieces(start, end, bucket):
        keys = _key(piece, by, bucket)
        measures = [func.coalesce(func.sum(piece.col(m)), 0).label(m) for m in MEASURES]
        query = select(*keys, *measures).where(*scope.where(conn, piece)).group_by(*keys)
        width = len(keys)
        for row in conn.execute(query):
            key = _canonical(by, row[:width], width - len(by))
            total = out.get(key)
            if total is None:
                out[key] = dict(zip(MEASURES, map(_plain, row[width:]), strict=True))
            else:
                for name, value in zip(MEASURES, row[width:], strict=True):
                    total[name] += _plain(value)
    return out


def sketch_rows(
    conn: Connection,
    start: int,
    end: int,
    *,
    by: Sequence[str] = (),
    scope: Scope = Scope(),
    bucket: int | None = None,
    columns: Sequence[str] = ("latency_sketch",),
) -> Iterator[tuple[tuple[Any, ...], tuple[bytes | None, ...]]]:
    """``((bucket?, *by), (sketch, ...))`` per rollup row, for the caller to merge per key."""
    _check(by)
    for piece in pieces(start, end, bucket):
        keys = _key(piece, by, bucket)
        query = select(*keys, *(piece.col(c) for c in columns)).where(*scope.where(conn, piece))
        width = len(keys)
        for row in conn.execute(query):
            yield _canonical(by, row[:width], width - len(by)), tuple(row[width:])


def first_seen(
    conn: Connection,
    start: int,
    end: int,
    dim: str | tuple[str, ...],
    *,
    scope: Scope = Scope(),
    lookback: int = 30 * 86_400,
) -> dict[Any, int]:
    """Values of ``dim`` first seen in ``[start, end)`` (none in the ``lookback`` before it),
    each with the first minute that has it (found in an hour or day row, then its minutes).

    ``dim`` may be several dimensions (``("prompt_name", "prompt_version")``): the keys are
    then tuples of their values, new when the combination is. A value that is '' everywhere
    (none) is never new.
    """
    dims = (dim,) if isinstance(dim, str) else dim
    _check(dims)
    seen = {
        _canonical(dims, row, 0)
        for piece in pieces(start - lookback, start)
        for row in conn.execute(
            select(*(piece.col(d) for d in dims)).where(*scope.where(conn, piece)).distinct()
        )
    }
    first: dict[tuple[Any, ...], tuple[int, Piece]] = {}
    for piece in pieces(start, end):
        columns = [piece.col(d) for d in dims]
        query = (
            select(*columns, func.min(piece.time))
            .where(*scope.where(conn, piece))
            .group_by(*columns)
        )
        for row in conn.execute(query):
            key, at = _canonical(dims, row[:-1], 0), int(row[-1])
            if key not in seen and any(key) and (key not in first or at < first[key][0]):
                first[key] = (at, piece)
    return {
        (k[0] if isinstance(dim, str) else k): _first_minute(conn, dims, k, at, piece, scope)
        for k, (at, piece) in first.items()
    }


def _first_minute(
    conn: Connection,
    dims: Sequence[str],
    key: tuple[Any, ...],
    at: int,
    piece: Piece,
    scope: Scope,
) -> int:
    """The minute a value first appears in, from the first hour or day row that holds it (a
    new value is rare: one small indexed read each)."""
    if piece.size == 60:
        return at
    minutes = Piece(Rollup, 60, Rollup.minute, at, at + piece.size)
    conds = scope.where(conn, minutes)
    for name, value in zip(dims, key, strict=True):
        if name == "model":
            conds.append(Rollup.model.in_(model_names(conn, [value])))
        else:
            conds.append(minutes.col(name) == value)
    found = conn.execute(select(func.min(Rollup.minute)).where(*conds)).scalar()
    return int(found) if found is not None else at  # minutes purged sooner: the coarse start


def user_sums(
    conn: Connection,
    start: int,
    end: int,
    *,
    tenant: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
    by_user: bool = True,
    by_tenant: bool = True,
    bucket: int | None = None,
    costliest: int | None = None,
    min_cost_usd: float = 0.0,
) -> dict[tuple[Any, ...], dict[str, float]]:
    """``user_rollups`` summed per ``(bucket?, tenant?, user?)``: requests are root spans.

    ``costliest``: only that many keys, the costliest (then by key); ``min_cost_usd``: only
    the keys that cost at least that. Both are chosen in SQL: an app of 100,000 users a day
    summed every one of them in Python for a top 50, or for the few near a budget.
    """
    lo, hi = start // 60 * 60, -(-end // 60) * 60
    keys: list[Any] = [UserRollup.tenant] if by_tenant else []
    if by_user:
        keys.append(UserRollup.user_id)
    if bucket:
        keys.insert(0, (UserRollup.minute - UserRollup.minute % bucket).label("bucket"))
    measures = [func.coalesce(func.sum(getattr(UserRollup, m)), 0) for m in USER_MEASURES]
    query = select(*keys, *measures).where(UserRollup.minute >= lo, UserRollup.minute < hi)
    if tenant is not None:
        query = query.where(UserRollup.tenant.in_(tenant))
    if users is not None:
        query = query.where(UserRollup.user_id.in_(users))
    query = query.group_by(*keys)
    cost = measures[USER_MEASURES.index("cost_usd")]
    if min_cost_usd:
        query = query.having(cost >= min_cost_usd)
    if costliest is not None:
        query = query.order_by(cost.desc(), *keys).limit(costliest)
    width = len(keys)
    return {
        tuple(row[:width]): dict(zip(USER_MEASURES, map(_plain, row[width:]), strict=True))
        for row in conn.execute(query)
    }


def _plain(value: Any) -> Any:
    # PostgreSQL sums BIGINT columns as NUMERIC: an int here, as SQLite gives, so callers
    # may add the sums to floats.
    return int(value) if isinstance(value, Decimal) else value


def _check(by: Sequence[str]) -> None:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group rollups by {unknown}; choose from {DIMENSIONS}")
