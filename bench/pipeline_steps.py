"""Where a span's CPU goes on the ingest path: decode, each processor, the store write.

    .venv/bin/python -m bench.pipeline_steps              # 8 batches x 7 rounds
    .venv/bin/python -m bench.pipeline_steps --quick      # 4 batches x 3 rounds

One process, one core, no network: the ingest benchmark's requests (512 realistic LLM spans of
~1.2 KB, a quarter with PII) are decoded, run through the collector's own processor chain
(redaction on, the default) and written to a fresh SQLite file, each step timed in CPU time.
Each figure is the smallest of the rounds (CPU time is robust to other load, but not to a
shared host's varying speed), next to its share of the total: the ingest benchmark's
spans/s follow from the same work plus gRPC and the worker processes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence

from bench.ingest import make_batch
from glassline.collector.config import CollectorConfig
from glassline.collector.decode import decode_protobuf
from glassline.collector.memory import collect_cycles_after_startup
from glassline.collector.server import build_processors
from glassline.collector.storage import Store


def run_round(bodies: Sequence[bytes], config: CollectorConfig, store: Store) -> Counter[str]:
    """CPU seconds per step over ``bodies``."""
    processors = build_processors(config)
    spent: Counter[str] = Counter()
    for body in bodies:
        started = time.process_time()
        batch = decode_protobuf(body, "bench", max_spans=10_000).records
        spent["decode"] += time.process_time() - started
        for processor in processors:
            started = time.process_time()
            batch = processor.process(batch)
            spent[processor.name] += time.process_time() - started
        started = time.process_time()
        store.write(batch)
        spent["store (SQLite)"] += time.process_time() - started
    return spent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="512-span requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="4 batches x 3 rounds")
    args = parser.parse_args(argv)
    batches, rounds = (4, 3) if args.quick else (args.batches, args.rounds)
    rng = random.Random(11)
    bodies = [make_batch(rng) for _ in range(batches * rounds + 1)]
    with tempfile.TemporaryDirectory(prefix="glassline-steps-") as work:
        config = CollectorConfig.model_validate({"storage": {"url": f"sqlite:///{work}/g.db"}})
        store = Store.open(config.storage)
        run_round(bodies[:1], config, store)  # warm-up: Presidio, statements, caches
        collect_cycles_after_startup()  # as the collector does once ready
        spans = batches * 512
        results = [
            run_round(bodies[1 + r * batches : 1 + (r + 1) * batches], config, store)
            for r in range(rounds)
        ]
        store.close()
    steps = list(results[0])
    best = {step: min(r[step] for r in results) / spans * 1e6 for step in steps}
    total = min(sum(r.values()) for r in results) / spans * 1e6
    print(f"{spans} spans per round, {rounds} rounds; CPU µs per span of the best round")
    for step in steps:
        print(f"{step:<16}{best[step]:8.1f} µs {best[step] / total:6.0%}")
    print(f"{'total':<16}{total:8.1f} µs   = {1e6 / total:,.0f} spans/s per core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
