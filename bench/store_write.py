"""``Store.write`` cost per span, in-process, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.store_write                  # SQLite + PostgreSQL
    .venv/bin/python -m bench.store_write --no-postgres --batches 40

The batches are the ingest benchmark's (512 realistic LLM spans of ~1.2 KB, 8 per trace),
decoded and normalized by the collector's own processors (redaction off: it is measured by
``bench.redaction``). Each database gets a fresh store, a few warm-up batches, then rounds of
new batches; the figures are the best round's wall time and this process's CPU time per span
(one process, one core; CPU time is robust to other load on the machine, but on PostgreSQL it
leaves out the server's work), plus the wall time of a client retry (a batch written again:
every span a duplicate).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence

from bench.ingest import make_batch
from glassline.collector.config import CollectorConfig
from glassline.collector.decode import decode_protobuf
from glassline.collector.records import SpanRecord
from glassline.collector.server import build_processors
from glassline.collector.storage import Store
from glassline.collector.storage.testing import DEFAULT_POSTGRES_URL, isolated_postgres_url

_WARMUP = 2


def make_batches(n: int, seed: int = 7) -> list[list[SpanRecord]]:
    rng = random.Random(seed)
    processors = build_processors(CollectorConfig(redaction=None))
    out = []
    for _ in range(n):
        batch = decode_protobuf(make_batch(rng), "bench", max_spans=10_000).records
        for processor in processors:
            batch = processor.process(batch)
        out.append(batch)
    return out


def _us_per_span(store: Store, batches: Sequence[Sequence[SpanRecord]]) -> tuple[float, float]:
    """Wall and CPU µs per span of writing ``batches``."""
    spans = sum(len(b) for b in batches)
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        store.write(batch)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / spans * 1e6, cpu / spans * 1e6


def measure(url: str, batches: list[list[SpanRecord]], rounds: int) -> tuple[float, float, float]:
    """Best round's wall and CPU µs/span for new spans, wall µs/span of a retried batch."""
    store = Store.open(url)
    try:
        for batch in batches[:_WARMUP]:
            store.write(batch)
        rest = batches[_WARMUP:]
        size = max(1, len(rest) // rounds)
        runs = [_us_per_span(store, rest[i : i + size]) for i in range(0, len(rest), size)]
        retry, _ = _us_per_span(store, rest[-3:])
    finally:
        store.close()
    return min(w for w, _ in runs), min(c for _, c in runs), retry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=32, help="batches of 512 spans per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    batches = make_batches(args.batches + _WARMUP)
    print(f"{'µs/span':10} {'new (wall)':>11} {'new (CPU)':>10} {'retry (wall)':>13}")
    with tempfile.TemporaryDirectory() as work:
        wall, cpu, retry = measure(f"sqlite:///{work}/glassline.db", batches, args.rounds)
        print(f"{'sqlite':10} {wall:11.1f} {cpu:10.1f} {retry:13.1f}")
    if not args.no_postgres:
        with isolated_postgres_url(args.postgres_url) as url:
            wall, cpu, retry = measure(url, batches, args.rounds)
        print(f"{'postgresql':10} {wall:11.1f} {cpu:10.1f} {retry:13.1f}")


if __name__ == "__main__":
    main()
