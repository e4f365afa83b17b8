"""The tail decider: a job that decides quiet traces from the spans in the store.

Each batch is one write transaction: claim up to ``batch_traces`` traces whose last span
arrived more than ``decision_wait_s`` ago (``DELETE ... RETURNING`` on the pending queue, so
two deciders can never claim the same trace), evaluate the policies on their stored spans,
record the decisions, and for dropped traces move the span keys to the dedupe table and
delete the spans and the trace row. Pending spans live in the database, so an acknowledged
span of an undecided trace survives a restart and is decided by whichever process runs next.

The ``job:<name>`` lease of :class:`glassline.collector.jobs.JobRunner` (or ``lease_holder``
here) keeps the work on one replica at a time; correctness does not depend on it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    delete,
    literal,
    null,
    select,
    tuple_,
)

from glassline.collector.sampling import _db
from glassline.collector.sampling._db import TraceKey
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.models import SampledOutSpan, SamplingDecision, SamplingPending
from glassline.collector.sampling.policies import PolicySet, build_policy_set
from glassline.collector.sampling.policy_reads import reads_attributes, reads_spans
from glassline.collector.sampling.trace_view import TraceView
from glassline.collector.storage import search
from glassline.collector.storage._compiled import dialect_insert
from glassline.collector.storage.models import Span, Trace
from glassline.collector.storage.store import Store

__all__ = ["DeciderReport", "TailDecider"]

LEASE_NAME = "sampling-decider"
# The span columns policies read (loading whole rows would drag events and resources along).
_SPAN_COLUMNS = (
    "tenant", "trace_id", "span_id", "parent_span_id", "name", "status", "start_ns", "end_ns",
    "stage", "model", "service", "user_id", "cost_usd", "input_tokens", "output_tokens",
    "retries", "fallback", "cache_layer", "cache_hit",
)  # fmt: skip
_TRACE_COLUMNS = (
    "tenant", "trace_id", "start_ns", "duration_ms", "status", "cost_usd", "input_tokens",
    "output_tokens", "user_id",
)  # fmt: skip


@dataclass(slots=True)
class DeciderReport:
    """What one ``run_once`` did."""

    ran: bool = True  # False: another replica holds the lease
    kept: int = 0
    dropped: int = 0
    spans_deleted: int = 0
    kept_by_policy: Counter[str] = field(default_factory=Counter)
    purged: dict[str, int] = field(default_factory=dict)


class TailDecider:
    """Decides pending traces with ``config.policies``; counters for the metrics module."""

    def __init__(
        self, store: Store, config: SamplingConfig, *, lease_holder: str | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.policies: PolicySet = build_policy_set(config)
        # Most policies read only the trace summary; spans (and their JSON) load on demand.
        self._with_spans = reads_spans(config.policies)
        self._with_attributes = reads_attributes(config.policies)
        self.lease_holder = lease_holder
        # Totals since start, read by the metrics module (traces, not spans).
        self.kept_by_policy: Counter[str] = Counter()
        self.dropped = 0
        self._lock = threading.Lock()

    def run_once(self, now_ns: int | None = None, max_batches: int = 100) -> DeciderReport:
        """Decide every trace quiet since ``now - decision_wait`` (bounded), then purge."""
        now = now_ns or time.time_ns()
        if self.lease_holder is not None and not self.store.try_acquire_lease(
            LEASE_NAME, self.lease_holder, ttl_s=max(30.0, 3 * self.config.decision_wait_s)
        ):
            return DeciderReport(ran=False)
        report = DeciderReport()
        cutoff = now - self.config.wait_ns
        for _ in range(max_batches):
            began = time.monotonic()
            decided = _db.run_write(self.store.engine, lambda c: self._decide_batch(c, cutoff, now))
            if decided is None:
                break
            self._merge(report, decided)
            self.store.yield_write_lock(began)
        # Bounded transactions: after downtime an hour of span keys (millions) is past memory.
        expired = _db.expired(now - self.config.memory_ns)
        report.purged = {
            name: self.store.delete_expired(table, where)
            for name, (table, where) in expired.items()
        }
        return report

    def _merge(self, report: DeciderReport, batch: DeciderReport) -> None:
        report.kept += batch.kept
        report.dropped += batch.dropped
        report.spans_deleted += batch.spans_deleted
        report.kept_by_policy.update(batch.kept_by_policy)
        with self._lock:
            self.kept_by_policy.update(batch.kept_by_policy)
            self.dropped += batch.dropped

    def _decide_batch(self, conn: Connection, cutoff: int, now: int) -> DeciderReport | None:
        claimed = _db.claim_pending(conn, cutoff, self.config.batch_traces)
        if not claimed:
            return None
        earlier = _claimed_decisions(conn)
        summaries = _claimed_summaries(conn)
        spans = _claimed_spans(conn, self._with_attributes) if self._with_spans else {}
        rows = []
        for key in claimed:
            if key in earlier:
                continue  # a straggler: its spans follow the decision already recorded
            summary = summaries.get(key)
            view = TraceView(key[0], key[1], spans.get(key, ()), summary)
            decision = self.policies.evaluate(view)
            rows.append(
                {
                    "tenant": key[0],
                    "trace_id": key[1],
                    "kept": decision.keep,
                    "policy": decision.policy,
                    "user_id": summary.user_id if summary is not None else None,
                    "decided_ns": now,
                }
            )
        report = self._count(conn, rows, _db.insert_decisions(conn, rows), now)
        report.spans_deleted = _drop_claimed(conn, now)
        _db.release_claimed(conn)
        return report

    def _count(
        self, conn: Connection, rows: list[dict[str, Any]], new: set[TraceKey], now: int
    ) -> DeciderReport:
        report = DeciderReport()
        stats: Counter[tuple[str, str, bool]] = Counter()
        for row in rows:
            if (row["tenant"], row["trace_id"]) not in new:
                continue  # decided by another decider meanwhile: counted there
            stats[(row["tenant"], row["policy"] or "", row["kept"])] += 1
            if row["kept"]:
                report.kept += 1
                report.kept_by_policy[row["policy"]] += 1
            else:
                report.dropped += 1
        _db.add_stats(conn, stats, now)
        return report


def _claimed(table: Any) -> Any:
    """Join condition: rows of ``table`` whose trace this transaction claimed."""
    pending = SamplingPending.__table__
    return (
        (pending.c.tenant == table.c.tenant)
        & (pending.c.trace_id == table.c.trace_id)
        & (pending.c.queued_ns == _db.CLAIMED)
    )


def _claimed_decisions(conn: Connection) -> set[TraceKey]:
    decisions = SamplingDecision.__table__
    stmt = select(decisions.c.tenant, decisions.c.trace_id).join(
        SamplingPending.__table__, _claimed(decisions)
    )
    return {(t, tr) for t, tr in conn.execute(stmt)}


def _claimed_spans(conn: Connection, with_attributes: bool) -> dict[TraceKey, list[Any]]:
    spans = Span.__table__
    cols: list[ColumnElement[Any]] = [spans.c[name] for name in _SPAN_COLUMNS]
    cols.append(spans.c.attributes if with_attributes else null().label("attributes"))
    stmt = select(*cols).join(SamplingPending.__table__, _claimed(spans))
    out: dict[TraceKey, list[Any]] = {}
    for row in conn.execute(stmt):
        out.setdefault((row.tenant, row.trace_id), []).append(row)
    return out


def _claimed_summaries(conn: Connection) -> dict[TraceKey, Any]:
    traces = Trace.__table__
    cols = [traces.c[name] for name in _TRACE_COLUMNS]
    stmt = select(*cols).join(SamplingPending.__table__, _claimed(traces))
    return {(row.tenant, row.trace_id): row for row in conn.execute(stmt)}


def _drop_claimed(conn: Connection, now: int) -> int:
    """For claimed traces decided "dropped" (now or before): keep their span keys, delete
    their spans and trace rows. Returns the number of spans deleted."""
    spans, traces, seen = Span.__table__, Trace.__table__, SampledOutSpan.__table__
    pending, decisions = SamplingPending.__table__, SamplingDecision.__table__
    dropped = (
        select(pending.c.tenant, pending.c.trace_id)
        .join(
            decisions,
            (decisions.c.tenant == pending.c.tenant) & (decisions.c.trace_id == pending.c.trace_id),
        )
        .where(pending.c.queued_ns == _db.CLAIMED, decisions.c.kept.is_(False))
    )
    of_spans = tuple_(spans.c.tenant, spans.c.trace_id).in_(dropped)
    moved = select(spans.c.tenant, spans.c.trace_id, spans.c.span_id, literal(now, BigInteger))
    conn.execute(
        dialect_insert(conn.dialect, seen)
        .from_select(["tenant", "trace_id", "span_id", "seen_ns"], moved.where(of_spans))
        .on_conflict_do_nothing(index_elements=["tenant", "trace_id", "span_id"])
    )
    deleted = conn.execute(delete(spans).where(of_spans)).rowcount
    search.delete_traces(conn, dropped)
    conn.execute(delete(traces).where(tuple_(traces.c.tenant, traces.c.trace_id).in_(dropped)))
    return int(deleted)
