"""Trace summaries from spans in any order, across batches."""

from __future__ import annotations

import itertools

import pytest

from glassline.collector.storage.summary import merge_trace_row, new_trace_row, trace_deltas
from glassline.collector.storage.testing import llm_trace

T0 = 1_800_000_000 * 1_000_000_000


def summarize(batches):
    row = None
    for n, batch in enumerate(batches):
        ((key, delta),) = trace_deltas(batch).items()
        row = (
            new_trace_row(key, delta, n)
            if row is None
            else {**row, **merge_trace_row(row, delta, n)}
        )
    return row


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_gives_the_same_summary(order: tuple[int, ...]) -> None:
    spans = llm_trace(1, T0, model="gpt-4o", status="error")
    one_by_one = summarize([[spans[i]] for i in order])
    all_at_once = summarize([spans])
    for field in (
        "root_span_id",
        "root_name",
        "start_ns",
        "end_ns",
        "duration_ms",
        "status",
        "user_id",
        "session_id",
        "span_count",
        "error_count",
        "input_tokens",
        "models",
        "stages",
        "service",
    ):
        assert one_by_one[field] == all_at_once[field], field
    assert one_by_one["cost_usd"] == pytest.approx(all_at_once["cost_usd"])
    assert one_by_one["last_seen_ns"] == 3


def test_without_the_root_the_summary_spans_the_children() -> None:
    _, retrieve, _, llm = llm_trace(2, T0)
    row = summarize([[llm], [retrieve]])
    assert (row["root_name"], row["start_ns"], row["end_ns"]) == (
        None,
        retrieve.start_ns,
        llm.end_ns,
    )
    assert row["duration_ms"] == (llm.end_ns - retrieve.start_ns) / 1e6
    assert row["status"] == "ok"
