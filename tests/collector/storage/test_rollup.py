"""Rollup deltas are pure sums over spans, keyed by bucket and dimensions."""

from __future__ import annotations

import pytest

from glassline.collector.records import SpanRecord
from glassline.collector.storage import sketch
from glassline.collector.storage.rollup import (
    bucket_of,
    coarsen,
    merge_rollup_row,
    merge_user_row,
    new_rollup_row,
    new_user_row,
    rollup_deltas,
    user_rollup_deltas,
)
from glassline.semconv.attributes import BUDGET_DECISION, BUDGET_PREVENTED_USD, SDK_DROPPED_SPANS

S = 1_000_000_000


def span(start_s: float, ms: float = 100, **fields: object) -> SpanRecord:
    start = int(start_s * S)
    base: dict[str, object] = {
        "tenant": "acme",
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "name": "x",
        "start_ns": start,
        "end_ns": start + int(ms * 1_000_000),
        "parent_span_id": "c" * 16,
    }
    base.update(fields)
    return SpanRecord(**base)  # type: ignore[arg-type]


def test_bucket_of_floors_to_the_bucket_start() -> None:
    assert bucket_of(3599 * S + 5, 60) == 3540
    assert bucket_of(3600 * S, 3600) == 3600
    assert bucket_of(7199 * S, 3600) == 3600


def test_spans_are_grouped_by_minute_and_dimensions_with_empty_for_none() -> None:
    spans = [
        span(0, kind="llm", model="m", stage="gen"),
        span(30, kind="llm", model="m", stage="gen"),
        span(61, kind="llm", model="m", stage="gen"),
        span(5, kind="tool"),
    ]
    deltas = rollup_deltas(spans)
    assert set(deltas) == {
        (0, "acme", "llm", "gen", "m", "", "", "", "", ""),
        (60, "acme", "llm", "gen", "m", "", "", "", "", ""),
        (0, "acme", "tool", "", "", "", "", "", "", ""),
    }
    assert deltas[(0, "acme", "llm", "gen", "m", "", "", "", "", "")].values["count"] == 2
    assert set(rollup_deltas(spans, 3600)) == {
        (0, "acme", "llm", "gen", "m", "", "", "", "", ""),
        (0, "acme", "tool", "", "", "", "", "", "", ""),
    }


def test_versions_and_the_api_key_are_dimensions_of_their_own() -> None:
    v7 = {"kind": "llm", "prompt_name": "answer", "prompt_version": "v7", "api_key": "web"}
    spans = [
        span(0, service_version="1.2.0", **v7),
        span(1, service_version="1.3.0", **v7),
        span(2, service_version="1.3.0", **{**v7, "prompt_version": "v8"}),
        span(3, service_version="1.3.0", **{**v7, "api_key": "batch"}),
    ]
    deltas = rollup_deltas(spans)
    assert set(deltas) == {
        (0, "acme", "llm", "", "", "", "1.2.0", "answer", "v7", "web"),
        (0, "acme", "llm", "", "", "", "1.3.0", "answer", "v7", "web"),
        (0, "acme", "llm", "", "", "", "1.3.0", "answer", "v8", "web"),
        (0, "acme", "llm", "", "", "", "1.3.0", "answer", "v7", "batch"),
    }
    first = (0, "acme", "llm", "", "", "", "1.2.0", "answer", "v7", "web")
    row = new_rollup_row(first, deltas[first], "minute")
    assert (row["service_version"], row["prompt_version"], row["api_key"]) == ("1.2.0", "v7", "web")


def test_a_delta_sums_every_measure() -> None:
    spans = [
        span(
            0,
            100,
            status="error",
            input_tokens=10,
            output_tokens=2,
            cache_read_tokens=4,
            cost_usd=0.5,
            cache_hit=True,
            retries=2,
            fallback=True,
            ttft_ms=20.0,
        ),
        span(1, 300, input_tokens=5, cache_creation_tokens=3, reasoning_tokens=1, cache_hit=False),
        span(2, 50, cost_usd=None),
        # What SDKs report: budget decisions on their LLM spans, and spans their queue lost.
        span(3, 10, attributes={BUDGET_DECISION: "deny", BUDGET_PREVENTED_USD: 0.25}),
        span(3, 10, attributes={BUDGET_DECISION: "deny", BUDGET_PREVENTED_USD: True}),
        span(3, 10, cost_usd=0.125, attributes={BUDGET_DECISION: "degrade"}),
        span(3, 10, cost_usd=1.0, attributes={BUDGET_DECISION: "allow"}),
        span(3, 10, name=SDK_DROPPED_SPANS, attributes={SDK_DROPPED_SPANS: 7}),
        span(3, 10, name=SDK_DROPPED_SPANS, attributes={SDK_DROPPED_SPANS: "7"}),
    ]
    (delta,) = rollup_deltas(spans).values()
    assert delta.values == {
        "count": 9,
        "errors": 1,
        "input_tokens": 15,
        "output_tokens": 2,
        "cache_read_tokens": 4,
        "cache_creation_tokens": 3,
        "reasoning_tokens": 1,
        "cost_usd": 1.625,
        "cache_hits": 1,
        "cache_lookups": 2,
        "retries": 2,
        "fallbacks": 1,
        "duration_sum_ms": 510.0,
        "sdk_lost_spans": 7,
        "budget_denied": 2,
        "budget_prevented_usd": 0.25,
        "budget_degraded": 1,
        "budget_degraded_usd": 0.125,
    }
    assert sorted(delta.latency) == [10.0] * 6 + [50.0, 100.0, 300.0]
    assert delta.ttft == [20.0]


def test_new_and_merged_rows_add_counters_and_merge_sketches() -> None:
    key = (0, "acme", "llm", "", "m", "", "", "", "", "")
    llm = {"kind": "llm", "model": "m"}
    row = new_rollup_row(key, rollup_deltas([span(0, 100, ttft_ms=10.0, **llm)])[key], "minute")
    assert (row["minute"], row["model"], row["count"]) == (0, "m", 1)
    second = rollup_deltas([span(1, 300, **llm), span(2, 500, **llm)])[key]
    merged = merge_rollup_row(row, second)
    assert merged["count"] == 3
    assert merged["duration_sum_ms"] == pytest.approx(900)
    latency = sketch.decode(merged["latency_sketch"])
    assert latency.count == 3
    assert latency.get_quantile_value(1.0) == pytest.approx(500, rel=0.01)
    assert merged["ttft_sketch"] == row["ttft_sketch"]  # no new ttft: the old sketch stays


def test_rows_without_ttft_store_no_ttft_sketch() -> None:
    (delta,) = rollup_deltas([span(0)]).values()
    assert (
        new_rollup_row((0, "acme", "other", "", "", "", "", "", "", ""), delta, "hour")[
            "ttft_sketch"
        ]
        is None
    )


def test_user_deltas_count_root_requests_and_attribute_children_to_the_trace_user() -> None:
    root = span(0, parent_span_id=None, user_id="alice", status="error")
    child = span(1, cost_usd=0.25, input_tokens=7)
    orphan = span(2, trace_id="f" * 32, cost_usd=1.0)  # no user anywhere: not attributed
    deltas = user_rollup_deltas([root, child, orphan], {("acme", "a" * 32): "alice"})
    assert list(deltas) == [(0, "acme", "alice")]
    values = deltas[(0, "acme", "alice")].values
    assert values == {
        "requests": 1,
        "errors": 1,
        "input_tokens": 7,
        "output_tokens": 0,
        "cost_usd": 0.25,
    }
    row = new_user_row((0, "acme", "alice"), deltas[(0, "acme", "alice")])
    assert merge_user_row(row, deltas[(0, "acme", "alice")])["cost_usd"] == 0.5


def test_hour_and_day_deltas_derived_from_minutes_equal_those_from_the_spans() -> None:
    spans = [
        span(s, ms, kind="llm", model=m, ttft_ms=ms / 3 if s % 2 else None)
        for s, ms, m in [
            *[(0, 100, "a"), (59, 5, "a"), (61, 700, "a"), (3599, 1, "b"), (3600, 0, "b")],
            *[(86_399, 40, "a"), (86_400, 40, "a"), (120, 0.0000001, "a")],
        ]
    ]
    minute = rollup_deltas(spans, 60)
    for bucket_s in (3600, 86_400):
        derived, direct = coarsen(minute, bucket_s), rollup_deltas(spans, bucket_s)
        assert set(derived) == set(direct)
        for key, delta in direct.items():
            assert derived[key].values == delta.values
            assert sorted(derived[key].latency) == sorted(delta.latency)
            assert new_rollup_row(key, derived[key], "hour") == new_rollup_row(key, delta, "hour")
