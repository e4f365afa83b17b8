"""The tail decider: quiet traces are decided from the store; late spans follow the decision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from glassline.collector.records import SpanRecord
from glassline.collector.sampling import _db
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.decider import LEASE_NAME, TailDecider
from glassline.collector.sampling.models import SampledOutSpan, SamplingDecision, SamplingPending
from glassline.collector.sampling.policies import build_policy_set
from glassline.collector.sampling.policy_reads import reads_spans
from glassline.collector.sampling.sink import SamplingSink
from glassline.collector.sampling.summary import PolicyCount, sampling_summary
from glassline.collector.sampling.testing import count_rows, rollup_totals, synthetic_traces
from glassline.collector.sampling.trace_view import TraceView
from glassline.collector.storage import expiry
from glassline.collector.storage.models import Span, Trace
from glassline.collector.storage.store import Store
from glassline.collector.storage.testing import (
    rows_deleted_per_transaction,
    spans_deleted_per_transaction,
)
from glassline.semconv import attributes as attrs

NOW = 1_800_000_100_000_000_000
SECOND = 1_000_000_000

ERRORS_ONLY: dict[str, Any] = {
    "tail_enabled": True,
    "decision_wait_s": 10,
    "decision_memory_s": 600,
    "policies": [{"type": "error", "name": "errors"}],
}


def setup(store: Store, **overrides: Any) -> tuple[SamplingSink, TailDecider]:
    config = SamplingConfig.model_validate({**ERRORS_ONLY, **overrides})
    return SamplingSink(store, config), TailDecider(store, config)


def one_trace(failed: bool, seed: int = 0) -> list[SpanRecord]:
    for i, trace in enumerate(synthetic_traces(200, seed=seed)):
        if (trace[0].status == "error") == failed and i > 0:
            return trace
    raise AssertionError("no such trace in the sample")


def test_trace_is_decided_only_after_decision_wait(store: Store) -> None:
    sink, decider = setup(store)
    sink.write(one_trace(failed=True), NOW)
    assert decider.run_once(NOW + 9 * SECOND).kept == 0
    assert count_rows(store.engine, SamplingPending) == 1
    report = decider.run_once(NOW + 11 * SECOND)
    assert (report.kept, report.dropped) == (1, 0)
    assert report.kept_by_policy == {"errors": 1}
    assert count_rows(store.engine, SamplingPending) == 0


def test_a_new_span_restarts_the_quiet_period(store: Store) -> None:
    sink, decider = setup(store)
    trace = one_trace(failed=False)
    sink.write(trace[:2], NOW)
    sink.write(trace[2:], NOW + 8 * SECOND)
    assert decider.run_once(NOW + 11 * SECOND).dropped == 0
    assert decider.run_once(NOW + 19 * SECOND).dropped == 1


def test_dropped_trace_leaves_the_store_but_not_the_rollups(store: Store) -> None:
    sink, decider = setup(store)
    traces = synthetic_traces(100, seed=1)
    for trace in traces:
        sink.write(trace, NOW)
    before = rollup_totals(store.engine)
    report = decider.run_once(NOW + 11 * SECOND)
    failed = sum(t[0].status == "error" for t in traces)
    assert 0 < failed < 100
    assert (report.kept, report.dropped) == (failed, 100 - failed)
    assert report.spans_deleted == 3 * (100 - failed)
    assert count_rows(store.engine, Span) == 3 * failed
    assert count_rows(store.engine, Trace) == failed
    assert count_rows(store.engine, SampledOutSpan) == 3 * (100 - failed)
    assert rollup_totals(store.engine) == before
    assert decider.kept_by_policy == {"errors": failed}
    assert decider.dropped == 100 - failed


def test_late_span_follows_recorded_decision(store: Store) -> None:
    sink, decider = setup(store)
    kept, dropped = one_trace(failed=True), one_trace(failed=False)
    sink.write(kept[:2] + dropped[:2], NOW)
    decider.run_once(NOW + 11 * SECOND)
    late = sink.write([kept[2], dropped[2]], NOW + 20 * SECOND)
    assert (late.inserted, late.sampled_out) == (1, 1)
    with store.session() as session:
        ids = {(s.trace_id, s.span_id) for s in session.query(Span)}
    assert (kept[2].trace_id, kept[2].span_id) in ids
    assert all(tid != dropped[0].trace_id for tid, _ in ids)
    assert rollup_totals(store.engine)["count"] == 6
    assert sink.sampled_out == {"dropped": 1}


def test_retry_of_spans_of_a_dropped_trace_is_not_counted_twice(store: Store) -> None:
    sink, decider = setup(store)
    trace = one_trace(failed=False)
    sink.write(trace, NOW)
    decider.run_once(NOW + 11 * SECOND)
    before = rollup_totals(store.engine)
    retry = sink.write(trace, NOW + 30 * SECOND)
    assert (retry.inserted, retry.sampled_out, retry.duplicates) == (0, 0, 3)
    assert rollup_totals(store.engine) == before


def test_acknowledged_span_of_undecided_trace_survives_a_restart(db_url: str) -> None:
    first = Store.open(db_url)
    sink, _ = setup(first)
    trace = one_trace(failed=True)
    assert sink.write(trace, NOW).inserted == 3
    first.close()  # the collector stops before the trace was decided

    second = Store.open(db_url)
    try:
        _, decider = setup(second)
        report = decider.run_once(NOW + 11 * SECOND)
        assert report.kept_by_policy == {"errors": 1}
        assert count_rows(second.engine, Span) == 3
    finally:
        second.close()


def test_span_stored_while_its_trace_was_being_dropped_is_swept(store: Store) -> None:
    sink, decider = setup(store)
    trace = one_trace(failed=False)
    sink.write(trace[:2], NOW)
    decider.run_once(NOW + 11 * SECOND)
    # A writer that looked the decision up just before it committed: stored and queued.
    store.write(trace[2:], NOW + 12 * SECOND)
    with _db.write_tx(store.engine) as conn:
        _db.queue_pending(conn, [(trace[0].tenant, trace[0].trace_id)], NOW + 12 * SECOND)
    report = decider.run_once(NOW + 30 * SECOND)
    assert (report.kept, report.dropped, report.spans_deleted) == (0, 0, 1)
    assert count_rows(store.engine, Span) == 0
    assert count_rows(store.engine, SampledOutSpan) == 3
    assert rollup_totals(store.engine)["count"] == 3


def test_decisions_and_span_keys_are_forgotten_after_the_memory(store: Store) -> None:
    sink, decider = setup(store)
    sink.write(one_trace(failed=False), NOW)
    decider.run_once(NOW + 11 * SECOND)
    assert count_rows(store.engine, SamplingDecision) == 1
    report = decider.run_once(NOW + 700 * SECOND)
    assert report.purged == {"decisions": 1, "span_keys": 3}
    assert count_rows(store.engine, SamplingDecision) == 0
    assert count_rows(store.engine, SampledOutSpan) == 0


def test_decider_skips_its_run_while_another_replica_holds_the_lease(store: Store) -> None:
    config = SamplingConfig.model_validate(ERRORS_ONLY)
    SamplingSink(store, config).write(one_trace(failed=True), NOW)
    assert store.try_acquire_lease(LEASE_NAME, "other-replica", ttl_s=60)
    blocked = TailDecider(store, config, lease_holder="me").run_once(NOW + 11 * SECOND)
    assert not blocked.ran and blocked.kept == 0
    store.release_lease(LEASE_NAME, "other-replica")
    assert TailDecider(store, config, lease_holder="me").run_once(NOW + 11 * SECOND).kept == 1


def test_sampling_summary_counts_traces_per_policy(store: Store) -> None:
    sink, decider = setup(store, head_rate=0.5)
    traces = synthetic_traces(100, seed=2)
    for trace in traces:
        sink.write(trace, NOW)
    report = decider.run_once(NOW + 11 * SECOND)
    head_dropped = 100 - report.kept - report.dropped
    with store.session() as session:
        summary = sampling_summary(session, "tenant-0", NOW - 60 * SECOND, NOW + 60 * SECOND)
        summary += sampling_summary(session, "tenant-1", NOW - 60 * SECOND, NOW + 60 * SECOND)
        later = sampling_summary(session, "tenant-0", NOW + 120 * SECOND, NOW + 180 * SECOND)
    totals: dict[tuple[str, bool], int] = {}
    for row in summary:
        totals[(row.policy, row.kept)] = totals.get((row.policy, row.kept), 0) + row.traces
    assert totals == {
        ("head", False): head_dropped,
        ("", False): report.dropped,
        ("errors", True): report.kept,
    }
    assert all(isinstance(r, PolicyCount) for r in summary)
    assert later == []


SPAN_POLICIES: list[dict[str, Any]] = [
    {"type": "cache_miss", "layer": "semantic", "name": "miss"},
    {"type": "latency", "threshold_ms": 900, "stage": "generate", "name": "slow-generate"},
    {"type": "attribute", "key": attrs.GEN_AI_PROVIDER_NAME, "regex": "^nobody$", "name": "x"},
]


def test_decisions_from_stored_rows_equal_decisions_from_the_records(store: Store) -> None:
    """Span-level policies read the stored spans (and their JSON) just as the records say."""
    sink, decider = setup(store, policies=SPAN_POLICIES)
    traces = synthetic_traces(150, seed=9)
    for trace in traces:
        sink.write(trace, NOW)
    decider.run_once(NOW + 11 * SECOND)
    policies = build_policy_set(SamplingConfig.model_validate({"policies": SPAN_POLICIES}))
    expected = {
        t[0].trace_id: policies.evaluate(TraceView(t[0].tenant, t[0].trace_id, t)) for t in traces
    }
    with store.session() as session:
        got = {d.trace_id: (d.kept, d.policy) for d in session.query(SamplingDecision)}
    assert got == {tid: (d.keep, d.policy) for tid, d in expected.items()}
    assert {p for _, p in got.values()} >= {"miss", "slow-generate", None}


def test_summary_only_policies_match_span_evaluation(store: Store) -> None:
    """Error, root latency, cost and tokens are read from the trace summary row."""
    config = [
        {"type": "tokens", "threshold": 3500, "count": "input"},
        {"type": "cost", "threshold_usd": 0.012},
        {"type": "latency", "threshold_ms": 1500},
        {"type": "error"},
    ]
    assert not reads_spans(SamplingConfig.model_validate({"policies": config}).policies)
    sink, decider = setup(store, policies=config)
    traces = synthetic_traces(150, seed=10)
    for trace in traces:
        sink.write(trace, NOW)
    decider.run_once(NOW + 11 * SECOND)
    policies = build_policy_set(SamplingConfig.model_validate({"policies": config}))
    with store.session() as session:
        got = {d.trace_id: (d.kept, d.policy) for d in session.query(SamplingDecision)}
    expected = {
        t[0].trace_id: policies.evaluate(TraceView(t[0].tenant, t[0].trace_id, t)) for t in traces
    }
    assert got == {tid: (d.keep, d.policy) for tid, d in expected.items()}
    assert len({p for _, p in got.values()}) == 5


def test_head_only_sampling_state_is_purged_by_the_job(store: Store) -> None:
    config = SamplingConfig.model_validate({"head_rate": 0.5, "decision_memory_s": 60})
    assert config.needs_job and not SamplingConfig().needs_job
    SamplingSink(store, config).write([s for t in synthetic_traces(40) for s in t], NOW)
    assert count_rows(store.engine, SampledOutSpan) > 0
    report = TailDecider(store, config).run_once(NOW + 61 * SECOND)
    assert report.purged["span_keys"] > 0 and report.purged["decisions"] > 0
    assert count_rows(store.engine, SampledOutSpan) == 0
    assert count_rows(store.engine, SamplingDecision) == 0


def long_trace(number: int, spans: int) -> list[SpanRecord]:
    """A batch job's trace: one root and ``spans - 1`` calls under it, no errors."""
    root = SpanRecord("acme", f"{number + 1:032x}", f"{number + 1:016x}", "nightly", NOW, NOW + 1)
    return [root] + [
        SpanRecord(
            "acme", root.trace_id, f"{(number + 1) << 20 | i:016x}", "chat", NOW + i, NOW + i + 1,
            parent_span_id=root.span_id, kind="llm",
        )
        for i in range(1, spans)
    ]  # fmt: skip


def test_long_traces_are_decided_a_bounded_number_of_spans_per_transaction(
    store: Store, monkeypatch: Any
) -> None:
    """Batch jobs' traces that go quiet together are claimed a few at a time by their stored
    spans, so one decider transaction never reads and moves all of them at once."""
    sink, decider = setup(store)
    for number in range(3):
        sink.write(long_trace(number, 250), NOW)
    deleted = spans_deleted_per_transaction(store.engine)
    monkeypatch.setattr(_db, "CLAIM_SPANS", 300)
    report = decider.run_once(NOW + 11 * SECOND)
    assert (report.kept, report.dropped, report.spans_deleted) == (0, 3, 750)
    assert deleted == [250, 250, 250]
    assert count_rows(store.engine, Span) == 0
    assert count_rows(store.engine, SampledOutSpan) == 750


def test_sampling_state_past_memory_is_forgotten_a_bounded_number_of_rows_per_transaction(
    store: Store, monkeypatch: Any
) -> None:
    """After downtime, an hour of dropped spans' keys (millions at high rates) is past
    decision memory at once: it goes in short transactions, not one holding the write lock."""
    _, decider = setup(store)
    old = NOW - 3600 * SECOND
    keys = [
        {"tenant": "acme", "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "seen_ns": old}
        for i in range(250)
    ]
    decisions = [
        {"tenant": "acme", "trace_id": f"{i:032x}", "kept": False, "policy": None,
         "user_id": None, "decided_ns": old}
        for i in range(250)
    ]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(SampledOutSpan), keys)
        conn.execute(insert(SamplingDecision), decisions)
    deleted = {
        name: rows_deleted_per_transaction(store.engine, name)
        for name in ("sampling_span_keys", "sampling_decisions")
    }
    monkeypatch.setattr(expiry, "PURGE_ROWS", 100)
    report = decider.run_once(NOW)
    assert report.purged == {"decisions": 250, "span_keys": 250}
    assert deleted == {"sampling_span_keys": [100, 100, 50], "sampling_decisions": [100, 100, 50]}
