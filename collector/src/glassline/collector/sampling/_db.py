"""Statements on the sampling tables, shared by the write hook and the decider.

Every insert is ``ON CONFLICT DO NOTHING ... RETURNING`` so the caller learns which rows are
new: that is what makes retries, overlapping batches and concurrent replicas count once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    delete,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError

from glassline.collector.records import SpanRecord
from glassline.collector.sampling.models import (
    SampledOutSpan,
    SamplingDecision,
    SamplingPending,
    SamplingStat,
)
from glassline.collector.storage._compiled import dialect_insert
from glassline.collector.storage.engine import WRITE
from glassline.collector.storage.models import Trace

TraceKey = tuple[str, str]  # tenant, trace_id
T = TypeVar("T")

_CHUNK = 400  # keys per statement: bounded statement size on both databases
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock / serialization failure: run it again
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Recorded:
    """A stored decision, as late spans need it."""

    kept: bool
    user_id: str | None


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A write transaction (SQLite takes its write lock at BEGIN, as the store does)."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        yield conn


def run_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction, again on a PostgreSQL deadlock."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with write_tx(engine) as conn:
                return work(conn)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                raise
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def lookup_decisions(conn: Connection, keys: Iterable[TraceKey]) -> dict[TraceKey, Recorded]:
    table = SamplingDecision.__table__
    key_cols = tuple_(table.c.tenant, table.c.trace_id)
    found: dict[TraceKey, Recorded] = {}
    for part in chunks(sorted(set(keys))):
        stmt = select(table.c.tenant, table.c.trace_id, table.c.kept, table.c.user_id).where(
            key_cols.in_(part)
        )
        for tenant, trace_id, kept, user in conn.execute(stmt):
            found[(tenant, trace_id)] = Recorded(bool(kept), user)
    return found


def insert_decisions(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[TraceKey]:
    """Insert decision rows; returns the keys that were not decided before."""
    if not rows:
        return set()
    table = SamplingDecision.__table__
    stmt = (
        dialect_insert(conn.dialect, table)
        .on_conflict_do_nothing(index_elements=["tenant", "trace_id"])
        .returning(table.c.tenant, table.c.trace_id)
    )
    ordered = sorted(rows, key=lambda r: (r["tenant"], r["trace_id"]))
    return {(t, tr) for t, tr in conn.execute(stmt, ordered)}


def queue_pending(conn: Connection, keys: Iterable[TraceKey], now_ns: int) -> None:
    """Queue traces for the decider, or push back their quiet period if queued already.

    An update (not "do nothing") on purpose: it locks the row, so a decider claiming the
    trace at the same moment waits for this transaction and then sees its spans.
    """
    rows = [{"tenant": t, "trace_id": tr, "queued_ns": now_ns} for t, tr in sorted(set(keys))]
    if not rows:
        return
    table = SamplingPending.__table__
    stmt = dialect_insert(conn.dialect, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant", "trace_id"], set_={"queued_ns": stmt.excluded.queued_ns}
    )
    conn.execute(stmt, rows)


CLAIMED = -1  # queued_ns of rows claimed by the running decider transaction (never committed)
CLAIM_SPANS = 20_000  # stored spans of the traces one decider transaction claims, at most


def claim_pending(
    conn: Connection, cutoff_ns: int, limit: int, max_spans: int | None = None
) -> list[TraceKey]:
    """Claim up to ``limit`` traces quiet since ``cutoff_ns`` for this transaction, oldest
    first, as many as hold ``max_spans`` (:data:`CLAIM_SPANS`) stored spans between them by
    their summaries (always at least one trace).

    The decider reads the spans of the traces it claims and moves those of dropped ones, all
    in one write transaction: 20 batch jobs' traces of 20,000 spans that went quiet together
    were one transaction that held SQLite's write lock for seconds.

    Claimed rows get ``queued_ns = CLAIMED`` so the decider's statements can join on them
    instead of shipping long key lists; the transaction deletes them before it commits, so
    no other transaction ever sees the mark. A concurrent writer's upsert or a second
    decider waits on the row lock and then finds the row gone.
    """
    table, traces = SamplingPending.__table__, Trace.__table__
    quiet = (table.c.queued_ns >= 0) & (table.c.queued_ns < cutoff_ns)
    oldest = (
        select(table.c.tenant, table.c.trace_id, func.coalesce(traces.c.span_count, 0))
        .select_from(
            table.outerjoin(
                traces,
                (traces.c.tenant == table.c.tenant) & (traces.c.trace_id == table.c.trace_id),
            )
        )
        .where(quiet)
        .order_by(table.c.queued_ns)
        .limit(limit)
    )
    budget = max_spans or CLAIM_SPANS
    keys: list[TraceKey] = []
    for tenant, trace_id, spans in conn.execute(oldest):
        if keys and spans > budget:
            break
        keys.append((tenant, trace_id))
        budget -= spans
    if not keys:
        return []
    stmt = (
        update(table)
        # ``quiet`` again: re-checked after a lock wait, so a span that just arrived wins.
        .where(tuple_(table.c.tenant, table.c.trace_id).in_(keys), quiet)
        .values(queued_ns=CLAIMED)
        .returning(table.c.tenant, table.c.trace_id)
    )
    return sorted((t, tr) for t, tr in conn.execute(stmt))


def release_claimed(conn: Connection) -> None:
    table = SamplingPending.__table__
    conn.execute(delete(table).where(table.c.queued_ns == CLAIMED))


def record_span_keys(
    conn: Connection, spans: Sequence[SpanRecord], now_ns: int
) -> list[SpanRecord]:
    """Remember keys of counted-but-not-retained spans; returns those not seen before."""
    unique: dict[tuple[str, str, str], SpanRecord] = {}
    for span in spans:
        unique.setdefault((span.tenant, span.trace_id, span.span_id), span)
    if not unique:
        return []
    keys = sorted(unique)
    table = SampledOutSpan.__table__
    stmt = (
        dialect_insert(conn.dialect, table)
        .on_conflict_do_nothing(index_elements=["tenant", "trace_id", "span_id"])
        .returning(table.c.tenant, table.c.trace_id, table.c.span_id)
    )
    rows = [{"tenant": k[0], "trace_id": k[1], "span_id": k[2], "seen_ns": now_ns} for k in keys]
    new = {tuple(r) for r in conn.execute(stmt, rows)}
    return [unique[k] for k in keys if k in new]


def add_stats(conn: Connection, counts: Mapping[tuple[str, str, bool], int], now_ns: int) -> None:
    """Add traces kept/dropped per (tenant, policy, kept) to this minute's stats rows."""
    if not counts:
        return
    minute = now_ns // 1_000_000_000 // 60 * 60
    table = SamplingStat.__table__
    rows = [
        {"minute": minute, "tenant": t, "policy": p, "kept": k, "traces": n}
        for (t, p, k), n in sorted(counts.items())
    ]
    stmt = dialect_insert(conn.dialect, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["minute", "tenant", "policy", "kept"],
        set_={"traces": table.c.traces + stmt.excluded.traces},
    )
    conn.execute(stmt, rows)


def expired(before_ns: int) -> dict[str, tuple[Table, ColumnElement[bool]]]:
    """The decisions and span keys older than ``before_ns``, to forget (by name)."""
    decisions = SamplingDecision.__table__
    keys = SampledOutSpan.__table__
    return {
        "decisions": (decisions, decisions.c.decided_ns < before_ns),
        "span_keys": (keys, keys.c.seen_ns < before_ns),
    }
