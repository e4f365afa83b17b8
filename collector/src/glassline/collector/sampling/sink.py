"""The write hook: the pipeline's sink with sampling in front of the store.

Every span is counted in the rollups exactly once, retained or not. Per batch, in ONE write
transaction:

- spans of head-dropped traces, and late spans of traces already decided "dropped", are
  counted through the ``sampling_span_keys`` dedupe table and the store's rollup code, but
  never stored; head-dropped traces get a ``dropped`` decision by policy ``head``;
- every other span goes through the store's own ``write_batch`` (stored, deduplicated,
  counted), and with tail sampling on, its trace is queued for the decider.

Use it where the store would go: ``Pipeline(processors, SamplingSink(store, config), ...)``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from glassline.collector.records import SpanRecord
from glassline.collector.sampling import _db
from glassline.collector.sampling._db import Recorded, TraceKey
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.head import HeadSampler
from glassline.collector.sampling.models import HEAD_POLICY
from glassline.collector.storage.store import Store
from glassline.collector.storage.summary import trace_deltas
from glassline.collector.storage.writer import PreparedBatch, write_batch

__all__ = ["SampledWriteResult", "SamplingSink"]


@dataclass(frozen=True, slots=True)
class SampledWriteResult:
    """``inserted``/``duplicates`` as the store reports them, plus spans counted-not-stored."""

    inserted: int
    duplicates: int
    sampled_out: int = 0


class _DecisionCache:
    """Recent decisions, in-process: a decision never changes, only expires with its memory."""

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self._ttl_ns = int(ttl_s * 1e9)
        self._max = max_entries
        self._items: dict[TraceKey, tuple[Recorded, int]] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: set[TraceKey], now_ns: int) -> dict[TraceKey, Recorded]:
        with self._lock:
            hits = {k: self._items.get(k) for k in keys}
        return {k: v[0] for k, v in hits.items() if v is not None and v[1] > now_ns}

    def put_many(self, found: dict[TraceKey, Recorded], now_ns: int) -> None:
        with self._lock:
            if len(self._items) + len(found) > self._max:
                self._items.clear()  # bounded memory beats a perfect hit rate
            expires = now_ns + self._ttl_ns
            for key, value in found.items():
                self._items[key] = (value, expires)


class SamplingSink:
    """``write(batch)`` like ``Store.write``, with head and tail sampling applied."""

    def __init__(self, store: Store, config: SamplingConfig, cache_ttl_s: float = 5.0) -> None:
        self.store = store
        self.config = config
        self.head = HeadSampler(config.head_rate)
        # Never remember a decision longer than the database does.
        self._cache = _DecisionCache(min(cache_ttl_s, config.decision_memory_s))
        self.sampled_out: Counter[str] = Counter()  # spans counted, not stored: head / dropped
        self._lock = threading.Lock()

    @property
    def passthrough(self) -> bool:
        return not self.config.tail_enabled and self.head.keeps_everything

    def write(self, batch: Sequence[SpanRecord], now_ns: int | None = None) -> SampledWriteResult:
        if not batch:
            return SampledWriteResult(0, 0)
        now = now_ns or time.time_ns()
        if self.passthrough:
            stored = self.store.write(batch, now)
            return SampledWriteResult(stored.inserted, stored.duplicates)
        with self.store.write_lock():
            result, reasons = _db.run_write(
                self.store.engine, lambda conn: self._write(conn, batch, now)
            )
        with self._lock:
            self.sampled_out.update(reasons)
        return result

    def _write(
        self, conn: Connection, batch: Sequence[SpanRecord], now: int
    ) -> tuple[SampledWriteResult, Counter[str]]:
        head_kept: list[SpanRecord] = []
        head_dropped: list[SpanRecord] = []
        for span in batch:
            (head_kept if self.head.keep(span.trace_id) else head_dropped).append(span)
        decided = self._decisions(conn, head_kept, now) if self.config.tail_enabled else {}
        retained: list[SpanRecord] = []
        late_dropped: list[SpanRecord] = []
        for span in head_kept:
            recorded = decided.get((span.tenant, span.trace_id))
            (late_dropped if recorded is not None and not recorded.kept else retained).append(span)
        if self.config.tail_enabled:  # first: its row lock makes a concurrent claim wait
            undecided = {(s.tenant, s.trace_id) for s in retained}.difference(decided)
            _db.queue_pending(conn, undecided, now)
        users = self._record_head_drops(conn, head_dropped, now)
        users.update({k: r.user_id for k, r in decided.items() if not r.kept})
        counted = _db.record_span_keys(conn, head_dropped + late_dropped, now)
        # One rollup update for stored and counted-only spans: counted exactly as stored are.
        stored = write_batch(
            conn,
            PreparedBatch(retained, conn.dialect),
            now,
            also_count=counted,
            also_count_users=users,
            dims=self.store.dimension_limit.dims,
            name_of=self.store.dimension_limit.name,
        )
        reasons: Counter[str] = Counter()
        for span in counted:
            reasons[HEAD_POLICY if not self.head.keep(span.trace_id) else "dropped"] += 1
        inserted = stored.inserted
        duplicates = len(batch) - inserted - len(counted)
        return SampledWriteResult(inserted, duplicates, len(counted)), reasons

    def _decisions(
        self, conn: Connection, spans: list[SpanRecord], now: int
    ) -> dict[TraceKey, Recorded]:
        keys = {(s.tenant, s.trace_id) for s in spans}
        found = self._cache.get_many(keys, now)
        missing = keys - found.keys()
        if missing:
            fresh = _db.lookup_decisions(conn, missing)
            self._cache.put_many(fresh, now)
            found.update(fresh)
        return found

    def _record_head_drops(
        self, conn: Connection, spans: list[SpanRecord], now: int
    ) -> dict[TraceKey, str | None]:
        """Decide head-dropped traces ``dropped by head``; returns each trace's user."""
        if not spans:
            return {}
        deltas = trace_deltas(spans)
        known = _db.lookup_decisions(conn, deltas.keys())
        users: dict[TraceKey, str | None] = {}
        for key, delta in deltas.items():
            before = known[key].user_id if key in known else None
            # As the store's trace summary: the root's user wins, else the first one seen.
            users[key] = delta.user_id if delta.user_id and (delta.root or not before) else before
        rows = [
            {
                "tenant": t,
                "trace_id": tr,
                "kept": False,
                "policy": HEAD_POLICY,
                "user_id": users[(t, tr)],
                "decided_ns": now,
            }
            for (t, tr) in deltas
            if (t, tr) not in known
        ]
        new = _db.insert_decisions(conn, rows)
        stats: Counter[tuple[str, str, bool]] = Counter((t, HEAD_POLICY, False) for t, _ in new)
        _db.add_stats(conn, stats, now)
        return users
