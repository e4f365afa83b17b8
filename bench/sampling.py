"""Ingest throughput with tail sampling on vs off, and storage vs drop rate, in one run.

    .venv/bin/python -m bench.sampling            # 20,000 traces (60,000 spans) per mode
    .venv/bin/python -m bench.sampling --quick    # 2,000 traces

Each mode ingests the same synthetic traffic (3-span RAG traces, batches of 300 spans) into
a fresh SQLite store: ``off`` is ``Store.write`` alone, the baseline; the others go through
``SamplingSink`` and run ``TailDecider.run_once`` every 10 batches, its time included.
Printed: spans/s, cost vs baseline, rows kept, and the DB size after VACUUM.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glassline.collector.records import SpanRecord
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.decider import TailDecider
from glassline.collector.sampling.models import SampledOutSpan
from glassline.collector.sampling.sink import SamplingSink
from glassline.collector.sampling.testing import count_rows, rollup_totals, synthetic_traces
from glassline.collector.storage.models import Span
from glassline.collector.storage.store import Store

SECOND = 1_000_000_000
POLICIES: list[dict[str, Any]] = [
    {"type": "error"},
    {"type": "latency", "threshold_ms": 3000},
    {"type": "probabilistic", "rate": 0.1},
]
MODES: dict[str, dict[str, Any] | None] = {
    "off": None,
    "tail": {"tail_enabled": True, "decision_wait_s": 10, "policies": POLICIES},
    "head 0.5 + tail": {
        "head_rate": 0.5,
        "tail_enabled": True,
        "decision_wait_s": 10,
        "policies": POLICIES,
    },
}


@dataclass
class Result:
    mode: str
    spans: int
    seconds: float
    stored: int
    keys: int
    db_bytes: int
    totals: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.spans / self.seconds


def _ingest(store: Store, config: dict[str, Any] | None, batches: list[list[SpanRecord]]) -> float:
    now = 1_800_000_000_000_000_000
    if config is None:
        write: Callable[[list[SpanRecord], int], object] = store.write
        decide: Callable[[int], object] | None = None
    else:
        parsed = SamplingConfig.model_validate(config)
        write = SamplingSink(store, parsed).write
        decide = TailDecider(store, parsed).run_once
    started = time.perf_counter()
    for i, batch in enumerate(batches):
        now += SECOND  # one batch per second of collector clock: traces go quiet as we go
        write(batch, now)
        if decide is not None and i % 10 == 9:
            decide(now)
    if decide is not None:
        decide(now + 60 * SECOND)
    return time.perf_counter() - started


def run_mode(mode: str, batches: list[list[SpanRecord]], workdir: str) -> Result:
    path = os.path.join(workdir, f"{mode.replace(' ', '_')}.db")
    store = Store.open(f"sqlite:///{path}")
    try:
        seconds = _ingest(store, MODES[mode], batches)
        stored, keys = count_rows(store.engine, Span), count_rows(store.engine, SampledOutSpan)
        totals = rollup_totals(store.engine)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    spans = sum(len(b) for b in batches)
    return Result(mode, spans, seconds, stored, keys, os.path.getsize(path), totals)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 traces")
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else args.traces
    traces = synthetic_traces(n, seed=1)
    spans = [s for t in traces for s in t]
    batches = [spans[i : i + 300] for i in range(0, len(spans), 300)]
    with tempfile.TemporaryDirectory() as workdir:
        results = [run_mode(mode, batches, workdir) for mode in MODES]
    base = results[0]
    print(f"{n} traces, {base.spans} spans, batches of 300, SQLite (same run, same traffic)")
    print(f"{'mode':<16}{'spans/s':>10}{'vs off':>9}{'spans kept':>12}{'kept %':>8}"
          f"{'key rows':>10}{'db MB':>8}{'totals equal':>14}")  # fmt: skip
    for r in results:
        print(
            f"{r.mode:<16}{r.rate:>10,.0f}{r.rate / base.rate:>9.2f}{r.stored:>12,}"
            f"{100 * r.stored / r.spans:>7.1f}%{r.keys:>10,}{r.db_bytes / 1e6:>8.1f}"
            f"{r.totals == base.totals!s:>14}"
        )


if __name__ == "__main__":
    main()
