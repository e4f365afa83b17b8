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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Connection, delete, literal, select, tuple_

from glassline.collector.sampling import _db
from glassline.collector.sampling._db import TraceKey
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.models import SampledOutSpan
from glassline.collector.sampling.policies import PolicySet, TraceView, build_policy_set
from glassline.collector.storage._merge import dialect_insert
from glassline.collector.storage.models import Span, Trace
from glassline.collector.storage.store import Store

__all__ = ["DeciderReport", "TailDecider"]

LEASE_NAME = "sampling-decider"
# The span columns policies read (loading whole rows would drag events and resources along).
_SPAN_COLUMNS = (
    "tenant", "trace_id", "span_id", "parent_span_id", "name", "status", "start_ns", "end_ns",
    "stage", "model", "service", "user_id", "cost_usd", "input_tokens", "output_tokens",
    "retries", "fallback", "cache_layer", "cache_hit", "attributes",
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
            decided = _db.run_write(self.store.engine, lambda c: self._decide_batch(c, cutoff, now))
            if decided is None:
                break
            self._merge(report, decided)
        report.purged = _db.run_write(
            self.store.engine, lambda c: _db.purge(c, now - self.config.memory_ns)
        )
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
        earlier = _db.lookup_decisions(conn, claimed)
        todo = [k for k in claimed if k not in earlier]
        spans = _load_spans(conn, todo)
        users = _trace_users(conn, todo)
        rows = []
        for tenant, trace_id in todo:
            view = TraceView(tenant, trace_id, spans.get((tenant, trace_id), ()))
            decision = self.policies.evaluate(view)
            rows.append(
                {
                    "tenant": tenant,
                    "trace_id": trace_id,
                    "kept": decision.keep,
                    "policy": decision.policy,
                    "user_id": users.get((tenant, trace_id)),
                    "decided_ns": now,
                }
            )
        new = _db.insert_decisions(conn, rows)
        report = DeciderReport()
        stats: Counter[tuple[str, str, bool]] = Counter()
        for row in rows:
            if (row["tenant"], row["trace_id"]) in new:
                stats[(row["tenant"], row["policy"] or "", row["kept"])] += 1
                if row["kept"]:
                    report.kept += 1
                    report.kept_by_policy[row["policy"]] += 1
                else:
                    report.dropped += 1
        _db.add_stats(conn, stats, now)
        # Traces dropped now, and stragglers: spans stored after their trace was dropped.
        dropped = [(r["tenant"], r["trace_id"]) for r in rows if not r["kept"]]
        dropped += [k for k, recorded in earlier.items() if not recorded.kept]
        report.spans_deleted = _drop_traces(conn, dropped, now)
        return report


def _load_spans(conn: Connection, keys: Sequence[TraceKey]) -> dict[TraceKey, list[Any]]:
    table = Span.__table__
    cols = [table.c[name] for name in _SPAN_COLUMNS]
    out: dict[TraceKey, list[Any]] = {}
    for part in _db.chunks(list(keys)):
        stmt = select(*cols).where(tuple_(table.c.tenant, table.c.trace_id).in_(part))
        for row in conn.execute(stmt):
            out.setdefault((row.tenant, row.trace_id), []).append(row)
    return out


def _trace_users(conn: Connection, keys: Sequence[TraceKey]) -> dict[TraceKey, str | None]:
    table = Trace.__table__
    out: dict[TraceKey, str | None] = {}
    for part in _db.chunks(list(keys)):
        stmt = select(table.c.tenant, table.c.trace_id, table.c.user_id).where(
            tuple_(table.c.tenant, table.c.trace_id).in_(part)
        )
        out.update({(t, tr): user for t, tr, user in conn.execute(stmt)})
    return out


def _drop_traces(conn: Connection, keys: Sequence[TraceKey], now: int) -> int:
    """Move the span keys of ``keys`` to the dedupe table, delete their spans and trace rows."""
    spans, traces, seen = Span.__table__, Trace.__table__, SampledOutSpan.__table__
    deleted = 0
    for part in _db.chunks(sorted(set(keys))):
        of_spans = tuple_(spans.c.tenant, spans.c.trace_id).in_(part)
        moved = select(spans.c.tenant, spans.c.trace_id, spans.c.span_id, _literal(now)).where(
            of_spans
        )
        conn.execute(
            dialect_insert(conn, seen)
            .from_select(["tenant", "trace_id", "span_id", "seen_ns"], moved)
            .on_conflict_do_nothing(index_elements=["tenant", "trace_id", "span_id"])
        )
        deleted += conn.execute(delete(spans).where(of_spans)).rowcount
        conn.execute(delete(traces).where(tuple_(traces.c.tenant, traces.c.trace_id).in_(part)))
    return deleted


def _literal(value: int) -> Any:
    return literal(value, BigInteger)
