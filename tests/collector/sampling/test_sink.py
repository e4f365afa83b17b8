"""The write hook: what is not retained is still counted in the rollups, exactly once."""

from __future__ import annotations

from typing import Any

from glassline.collector.records import SpanRecord
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.head import HeadSampler
from glassline.collector.sampling.models import SamplingDecision, SamplingPending
from glassline.collector.sampling.sink import SamplingSink
from glassline.collector.sampling.testing import count_rows, rollup_totals, synthetic_traces
from glassline.collector.storage.models import Span, Trace
from glassline.collector.storage.queries import list_traces
from glassline.collector.storage.store import Store
from glassline.collector.storage.testing import llm_trace

NOW = 1_800_000_100_000_000_000
SECOND = 1_000_000_000


def config(**kw: Any) -> SamplingConfig:
    return SamplingConfig.model_validate(kw)


def flat(traces: list[list[SpanRecord]]) -> list[SpanRecord]:
    return [s for t in traces for s in t]


def test_passthrough_config_writes_like_the_store(store: Store) -> None:
    spans = flat(synthetic_traces(20))
    result = SamplingSink(store, config()).write(spans, NOW)
    assert (result.inserted, result.duplicates, result.sampled_out) == (60, 0, 0)
    assert count_rows(store.engine, Span) == 60
    assert count_rows(store.engine, SamplingPending) == 0


def test_head_dropped_spans_are_counted_but_not_stored(store: Store) -> None:
    traces = synthetic_traces(200, seed=3)
    head = HeadSampler(0.3)
    kept = [t for t in traces if head.keep(t[0].trace_id)]
    assert 0 < len(kept) < len(traces)
    result = SamplingSink(store, config(head_rate=0.3)).write(flat(traces), NOW)
    assert result.inserted == 3 * len(kept)
    assert result.sampled_out == 3 * (len(traces) - len(kept))
    assert count_rows(store.engine, Span) == 3 * len(kept)
    assert rollup_totals(store.engine)["count"] == 600
    assert count_rows(store.engine, SamplingDecision) == len(traces) - len(kept)


def test_client_retry_of_head_dropped_spans_is_not_counted_twice(store: Store) -> None:
    spans = flat(synthetic_traces(100, seed=4))
    sink = SamplingSink(store, config(head_rate=0.5))
    first = sink.write(spans, NOW)
    before = rollup_totals(store.engine)
    again = sink.write(spans, NOW + SECOND)
    assert again.inserted == 0 and again.sampled_out == 0
    assert again.duplicates == len(spans)
    assert rollup_totals(store.engine) == before
    assert before["count"] == first.inserted + first.sampled_out == 300


def test_spans_of_one_head_dropped_trace_split_over_batches_keep_the_root_user(
    store: Store,
) -> None:
    head = HeadSampler(0.5)
    trace = next(t for t in synthetic_traces(50, seed=5) if not head.keep(t[0].trace_id))
    sink = SamplingSink(store, config(head_rate=0.5))
    sink.write(trace[:1], NOW)  # the root, which carries the user
    sink.write(trace[1:], NOW + SECOND)  # children without a user
    users = rollup_totals(store.engine)["users"]
    cost = sum(s.cost_usd or 0 for s in trace)
    assert users == {(trace[0].tenant, trace[0].user_id): (1, round(cost, 9))}
    assert count_rows(store.engine, Span) == 0


def test_undecided_traces_are_stored_and_queued_for_the_decider(store: Store) -> None:
    spans = flat(synthetic_traces(10, seed=6))
    sink = SamplingSink(store, config(tail_enabled=True, policies=[{"type": "error"}]))
    result = sink.write(spans, NOW)
    assert result.inserted == 30
    assert count_rows(store.engine, SamplingPending) == 10
    assert count_rows(store.engine, Trace) == 10
    assert sink.sampled_out.total() == 0


def test_a_root_written_hours_before_its_stored_children_keeps_them_found(store: Store) -> None:
    # Kept spans go through the store's write: a root that moves its trace's start into
    # another hour records its stored children's values there (see storage.seen).
    spans = llm_trace(7, NOW - 90 * 60 * SECOND, model="far-model")
    for span in spans[1:]:
        span.start_ns += 90 * 60 * SECOND
        span.end_ns += 90 * 60 * SECOND
    sink = SamplingSink(store, config(tail_enabled=True, policies=[{"type": "error"}]))
    sink.write(spans[1:], NOW)
    sink.write(spans[:1], NOW)
    with store.session() as session:
        for filters in ({"name_contains": "rerank"}, {"model": "far-model"}):
            page = list_traces(session, "acme", **filters)
            assert [t.trace_id for t in page.traces] == [spans[0].trace_id], filters
