"""Sampling never changes a total: the same traffic with sampling off and aggressive sampling
gives identical rollups (spend, tokens, counts, p50/p95/p99, per-user spend) while far fewer
spans are stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from glassline.collector.records import SpanRecord
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.decider import TailDecider
from glassline.collector.sampling.sink import SamplingSink
from glassline.collector.sampling.testing import count_rows, rollup_totals, synthetic_traces
from glassline.collector.storage.models import Span
from glassline.collector.storage.store import Store

NOW = 1_800_000_100_000_000_000
SECOND = 1_000_000_000

AGGRESSIVE: dict[str, Any] = {
    "head_rate": 0.5,
    "tail_enabled": True,
    "decision_wait_s": 10,
    "policies": [
        {"type": "error"},
        {"type": "latency", "threshold_ms": 3000},
        {"type": "probabilistic", "rate": 0.05},
    ],
}


def traffic(n_traces: int = 600, per_batch: int = 50) -> list[tuple[int, list[SpanRecord]]]:
    """(arrival time, batch): traces split over two batches, client retries, late spans."""
    traces = synthetic_traces(n_traces, seed=11, start_ns=NOW - 3600 * SECOND)
    batches: list[tuple[int, list[SpanRecord]]] = []
    groups = [traces[i : i + per_batch] for i in range(0, n_traces, per_batch)]
    for i in range(len(groups) + 1):
        batch = [s for t in groups[i] for s in t[:2]] if i < len(groups) else []
        batch += [t[2] for t in groups[i - 1]] if i > 0 else []
        batches.append((NOW + i * 4 * SECOND, batch))
    end = batches[-1][0]
    batches.append((end + SECOND, batches[3][1]))  # a client retry of an old batch
    late = [
        dataclasses.replace(t[0], span_id=f"{99:016x}", parent_span_id=t[0].span_id, user_id=None)
        for t in traces[::7]
    ]
    batches.append((end + 60 * SECOND, late))  # after every trace was decided
    batches.append((end + 61 * SECOND, late[:20]))  # and a retry of some of those
    return batches


def ingest(store: Store, config: SamplingConfig) -> None:
    sink = SamplingSink(store, config)
    decider = TailDecider(store, config)
    for now, batch in traffic():
        sink.write(batch, now)
        decider.run_once(now)
    decider.run_once(NOW + 3600 * SECOND)


def test_aggressive_sampling_keeps_every_total_and_shrinks_storage(tmp_path: Path) -> None:
    plain = Store.open(f"sqlite:///{tmp_path / 'plain.db'}")
    sampled = Store.open(f"sqlite:///{tmp_path / 'sampled.db'}")
    try:
        ingest(plain, SamplingConfig())
        ingest(sampled, SamplingConfig.model_validate(AGGRESSIVE))
        expected = rollup_totals(plain.engine)
        assert expected["count"] == 600 * 3 + len(range(0, 600, 7))
        assert expected["latency_llm"][0.99] is not None
        assert rollup_totals(sampled.engine) == expected
        stored_plain = count_rows(plain.engine, Span)
        stored_sampled = count_rows(sampled.engine, Span)
        assert stored_plain == expected["count"]
        assert 0 < stored_sampled < stored_plain * 0.25
    finally:
        plain.close()
        sampled.close()
