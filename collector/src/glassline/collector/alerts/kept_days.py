"""Whole past UTC days of an SLO's (good, total) per key: counted once, kept for every process.

A latency SLO counts the calls under ``threshold_ms`` in latency sketches, an evaluation SLO
with ``min_score`` the scores in score sketches: for 2,000 routes under 8 rules over 30 days,
17-21 s. A past day changes only by a span (or score) written late for it, which the day's
fingerprint (read cheaply from the same rollups) reveals. So a day is counted by whichever
process needs it first (the alert engine, the API, the dashboard), written to the store's
``slo_counts`` (a row per SLO, tenant and day) and read from there by every other process,
after a restart too; each process also keeps the days it has seen in memory, as arrays indexed
by key (24 bytes a key and day), so a steady pass reads no row of them.

Fingerprints are kept per tenant: the API's answer for one tenant reads only that tenant's
rows, valid while that tenant's fingerprint is unchanged, whoever counted them.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from glassline.collector.alerts.models import SloCount
from glassline.collector.alerts.queries import Key, make_key
from glassline.collector.storage._compiled import dialect_insert
from glassline.collector.storage.engine import WRITE

__all__ = ["DAY", "HOUR", "Budget", "CountedDay", "GoodTotal", "KeptDays", "Scope"]

_log = logging.getLogger(__name__)
DAY = 86_400
HOUR = 3_600
# Key-days kept in memory in all, least recently used days evicted: 3,000,000 (~72 MB of
# arrays) hold 30 days of 2,000 routes under 50 rules.
KEY_DAYS_KEPT = 3_000_000

GoodTotal = dict[Key, tuple[float, float]]
Counts = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Scope:
    """The counts asked for: the SLO ``slo`` (its answer fields but the tenant filter, hashed),
    whose keys are the tenant and the ``per`` values, for ``tenants`` (None: every tenant)."""

    slo: str
    per: tuple[str, ...]
    tenants: frozenset[str] | None = None

    def holds(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants


@dataclass(frozen=True, slots=True)
class CountedDay:
    """A day counted for a scope: (good, total) per key, and each tenant's fingerprint."""

    found: GoodTotal
    prints: dict[str, Any]


@dataclass(slots=True)
class Budget:
    """How many more cells a caller may count (the rest wait for its next call), and how many
    it left uncounted."""

    left: int
    waiting: int = 0


class _Day:
    __slots__ = ("counts", "prints")

    def __init__(self, prints: dict[str, Any], counts: Counts) -> None:
        self.prints = prints  # tenant -> the fingerprint its counts were made at
        self.counts = counts  # rows good / total / seen, by key column


class _Counts:
    """The kept days of one SLO on one store."""

    __slots__ = ("columns", "days", "keys", "tenants")

    def __init__(self) -> None:
        self.columns: dict[tuple[str, ...], int] = {}  # (tenant, *per values) -> column
        self.keys: list[Key] = []  # by column
        self.tenants: list[str] = []  # by column
        self.days: dict[int, _Day] = {}

    def column(self, tenant: str, values: tuple[str, ...], per: tuple[str, ...]) -> int:
        found = self.columns.get((tenant, *values))
        if found is None:
            found = self.columns[(tenant, *values)] = len(self.keys)
            self.keys.append(make_key(tenant, per, values))
            self.tenants.append(tenant)
        return found

    def put(
        self,
        day: int,
        replaced: Callable[[str], bool],
        prints: dict[str, Any],
        cells: tuple[list[int], list[float], list[float]],
    ) -> int:
        """Replace the tenants ``replaced`` says of ``day`` with ``prints`` and the ``cells``
        (columns, good, total); returns the columns the day's array holds."""
        old = self.days.get(day)
        counts = np.zeros((3, len(self.keys)))
        kept_prints = {}
        if old is not None:
            width = old.counts.shape[1]
            keep = np.array([not replaced(t) for t in self.tenants[:width]], dtype=bool)
            counts[:, :width] = old.counts * keep
            kept_prints = {t: p for t, p in old.prints.items() if not replaced(t)}
        columns, good, total = cells
        counts[0, columns], counts[1, columns], counts[2, columns] = good, total, 1.0
        self.days[day] = _Day({**kept_prints, **prints}, counts)
        return counts.shape[1]


class KeptDays:
    """Whole past days (or hours: the cells of one size) of (good, total) per key for SLOs: in
    this process's memory (bounded by ``KEY_DAYS_KEPT``), shared by every caller of a process
    (the alert engine, the API, the dashboard), and in the store for every other process (best
    effort: a process whose database user may not read or write them counts for itself)."""

    def __init__(self, limit: int = KEY_DAYS_KEPT) -> None:
        self._limit = limit
        self._slos: dict[tuple[str, str], _Counts] = {}
        self._order: OrderedDict[tuple[str, str, int], int] = OrderedDict()  # -> columns held
        self._held = 0
        self._lock = threading.Lock()  # the alert engine and the API may ask at once

    def good_total(
        self,
        conn: Connection,
        scope: Scope,
        current: Mapping[int, Any],
        combine: Callable[[Mapping[str, Any]], Any],
        count_day: Callable[[int], CountedDay],
        budget: Budget | None = None,
    ) -> GoodTotal | None:
        """(good, total) per key of ``scope`` summed over the days of ``current`` (UTC day
        start -> the scope's fingerprint now; a day without one has no data).

        A day is valid while ``combine`` of the kept fingerprints of the scope's tenants equals
        its fingerprint now. Invalid in memory, it is read from the store; invalid there too,
        it is counted by ``count_day`` and written back for every other process. With a
        ``budget``, at most ``budget.left`` days are counted, the latest first; if others are
        left (added to ``budget.waiting``), the answer is None.
        """
        name = (str(conn.engine.url), scope.slo)
        stale = self._stale(name, scope, current, combine, list(current))
        if stale:
            stored = _read(conn, scope, stale)
            with self._lock:
                for day, rows in stored.items():
                    self._keep_rows(name, scope, day, rows)
            stale = self._stale(name, scope, current, combine, stale)
        waiting = 0
        if stale and budget is not None:
            stale = sorted(stale, reverse=True)
            waiting = max(0, len(stale) - budget.left)
            stale = stale[: budget.left]
            budget.left -= len(stale)
            budget.waiting += waiting
        if stale:
            counted = {day: count_day(day) for day in stale}  # outside the lock: reads the store
            _write(conn, scope, counted)
            with self._lock:
                for day, found in counted.items():
                    self._keep_counted(name, scope, day, found)
        return None if waiting else self._sum(name, scope, current)

    def _stale(
        self,
        name: tuple[str, str],
        scope: Scope,
        current: Mapping[int, Any],
        combine: Callable[[Mapping[str, Any]], Any],
        days: list[int],
    ) -> list[int]:
        with self._lock:
            kept = self._slos.get(name)
            if kept is None:
                return days
            out = []
            for day in days:
                found = kept.days.get(day)
                prints = {} if found is None else found.prints
                if (
                    found is None
                    or combine({t: p for t, p in prints.items() if scope.holds(t)}) != current[day]
                ):
                    out.append(day)
            return out

    def _kept(self, name: tuple[str, str]) -> _Counts:
        return self._slos.setdefault(name, _Counts())

    def _keep_rows(
        self, name: tuple[str, str], scope: Scope, day: int, rows: dict[str, dict[str, Any]]
    ) -> None:
        """Keep the stored rows (tenant -> counts) of ``day``, in place of those tenants'."""
        kept = self._kept(name)
        cells: tuple[list[int], list[float], list[float]] = ([], [], [])
        for tenant, row in rows.items():
            cells[0].extend(kept.column(tenant, tuple(v), scope.per) for v in row["keys"])
            cells[1].extend(row["good"])
            cells[2].extend(row["total"])
        prints = {tenant: row["fingerprint"] for tenant, row in rows.items()}
        self._held_now(name, day, kept.put(day, prints.__contains__, prints, cells))

    def _keep_counted(
        self, name: tuple[str, str], scope: Scope, day: int, counted: CountedDay
    ) -> None:
        """Keep a day counted for ``scope``, in place of every tenant of the scope's."""
        kept = self._kept(name)
        cells: tuple[list[int], list[float], list[float]] = ([], [], [])
        for key, (good, total) in counted.found.items():
            tenant, values = _split(key, scope.per)
            cells[0].append(kept.column(tenant, values, scope.per))
            cells[1].append(good)
            cells[2].append(total)
        self._held_now(name, day, kept.put(day, scope.holds, counted.prints, cells))

    def _held_now(self, name: tuple[str, str], day: int, held: int) -> None:
        self._held += held - self._order.pop((*name, day), 0)
        self._order[(*name, day)] = held

    def _sum(self, name: tuple[str, str], scope: Scope, current: Mapping[int, Any]) -> GoodTotal:
        with self._lock:
            kept = self._kept(name)
            sums = np.zeros((3, len(kept.keys)))
            for day in current:
                found = kept.days.get(day)
                if found is not None:
                    self._order.move_to_end((*name, day))
                    sums[:, : found.counts.shape[1]] += found.counts
            keys, tenants = list(kept.keys), list(kept.tenants)
            self._evict()
        return {
            key: (float(sums[0, i]), float(sums[1, i]))
            for i, key in enumerate(keys)
            if sums[2, i] and scope.holds(tenants[i])
        }

    def _evict(self) -> None:
        # Never the days just summed (the most recent): a period larger than the bound is
        # still answered, only read again on the next pass.
        while self._held > self._limit and len(self._order) > 1:
            (url, slo, day), held = self._order.popitem(last=False)
            self._held -= held
            kept = self._slos[(url, slo)]
            del kept.days[day]
            if not kept.days:
                del self._slos[(url, slo)]


def _split(key: Key, per: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    dims = dict(key)
    return dims["tenant"], tuple(dims[d] for d in per)


# PostgreSQL's codes of a user who may not read or write a table, or of a read-only
# transaction (the dashboard's); SQLite's query_only mode says "readonly".
_DENIED = {"42501", "25006"}
_told: set[tuple[str, str]] = set()


def _denied(conn: Connection, what: str, exc: DBAPIError) -> None:
    """Log a failed read or write of ``slo_counts``: once per store and kind at INFO if this
    process's database user may not (a dashboard), else at WARNING."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _DENIED or "readonly" in str(orig):
        if (str(conn.engine.url), what) not in _told:
            _told.add((str(conn.engine.url), what))
            _log.info(
                "SLO day counts not %s (%s): this process counts the days it needs itself",
                what, str(orig).strip().splitlines()[0],
            )  # fmt: skip
        return
    _log.warning("SLO day counts not %s (counted again later)", what, exc_info=True)


def _read(conn: Connection, scope: Scope, days: list[int]) -> dict[int, dict[str, Any]]:
    """The stored rows of ``days`` for the scope's tenants: day -> tenant -> counts. None if
    this process may not read them (a dashboard's user granted SELECT before ``slo_counts``
    existed): under a savepoint on PostgreSQL, so the caller's transaction goes on."""
    t = SloCount
    query = select(t.day, t.tenant, t.counts).where(t.slo == scope.slo, t.day.in_(days))
    if scope.tenants is not None:
        query = query.where(t.tenant.in_(sorted(scope.tenants)))
    out: dict[int, dict[str, Any]] = {}
    try:
        with conn.begin_nested() if conn.dialect.name == "postgresql" else nullcontext():
            found = conn.execute(query).all()
    except DBAPIError as exc:
        _denied(conn, "read", exc)
        return out
    for day, tenant, counts in found:
        out.setdefault(int(day), {})[tenant] = counts
    return out


def _write(conn: Connection, scope: Scope, counted: Mapping[int, CountedDay]) -> None:
    """Store the days counted for ``scope``: a row per tenant with a fingerprint, the rows of
    its other tenants deleted. Best effort: a store this process may not write to (a
    read-only dashboard) only costs the next process the same count."""
    table = SloCount.__table__
    rows = []
    for day, found in counted.items():
        by_tenant: dict[str, dict[str, Any]] = {
            tenant: {"fingerprint": p, "keys": [], "good": [], "total": []}
            for tenant, p in found.prints.items()
        }
        for key, (good, total) in found.found.items():
            tenant, values = _split(key, scope.per)
            row = by_tenant.get(tenant)
            if row is not None:  # no fingerprint: not kept (it is counted again)
                row["keys"].append(list(values))
                row["good"].append(good)
                row["total"].append(total)
        rows += [{"slo": scope.slo, "tenant": t, "day": day, "counts": c}
                 for t, c in by_tenant.items()]  # fmt: skip
    try:
        with conn.engine.execution_options(**WRITE).begin() as write:
            for day, found in counted.items():
                gone = delete(table).where(
                    table.c.slo == scope.slo,
                    table.c.day == day,
                    table.c.tenant.not_in(sorted(found.prints)),
                )
                if scope.tenants is not None:
                    gone = gone.where(table.c.tenant.in_(sorted(scope.tenants)))
                write.execute(gone)
            if rows:
                insert = dialect_insert(write.dialect, table)
                write.execute(
                    insert.on_conflict_do_update(
                        index_elements=["slo", "tenant", "day"],
                        set_={"counts": insert.excluded.counts},
                    ),
                    rows,
                )
    except DBAPIError as exc:
        _denied(conn, "stored", exc)
    except Exception:
        _log.warning("SLO day counts not stored (counted again later)", exc_info=True)
