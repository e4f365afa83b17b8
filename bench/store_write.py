"""``Store.write`` cost per span, in-process, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.store_write                  # SQLite + PostgreSQL
    .venv/bin/python -m bench.store_write --no-postgres --batches 40
    .venv/bin/python -m bench.store_write --grouped         # SQLite: batches a transaction

The batches are the ingest benchmark's (512 realistic LLM spans of ~1.2 KB, 8 per trace),
decoded and normalized by the collector's own processors (redaction off: it is measured by
``bench.redaction``). Each database gets a fresh store, a few warm-up batches, then rounds of
new batches; the figures are the best round's wall time and this process's CPU time per span
(one process, one core; CPU time is robust to other load on the machine, but on PostgreSQL it
leaves out the server's work), plus the wall time of a client retry (a batch written again:
every span a duplicate).

``--grouped`` measures instead what ``storage/group_commit.py`` saves: on SQLite, the CPU time
under the write lock per span when 1, 2 or 4 batches of ``--spans`` (100, a lightly loaded
exporter's batch) share one transaction, the group sizes taking turns round by round on one
store; the medians and their ratio to one batch a transaction.
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
from glassline.collector.storage.writer import PreparedBatch, write_spans

_WARMUP = 2


def make_batches(n: int, seed: int = 7, spans: int = 512) -> list[list[SpanRecord]]:
    rng = random.Random(seed)
    processors = build_processors(CollectorConfig(redaction=None))
    out = []
    for _ in range(n):
        batch = decode_protobuf(make_batch(rng, spans), "bench", max_spans=10_000).records
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


def grouped(
    url: str, batches: list[list[SpanRecord]], sizes: Sequence[int], rounds: int
) -> dict[int, float]:
    """Median CPU µs per span under the write lock, per number of batches a transaction."""
    store = Store.open(url)
    per_round = max(sizes)  # batches written per group size and round
    spent: dict[int, list[float]] = {size: [] for size in sizes}
    try:
        for batch in batches[:_WARMUP]:
            store.write(batch)
        rest, dialect = iter(batches[_WARMUP:]), store.engine.dialect
        for _ in range(rounds):
            for size in sizes:
                taken = [PreparedBatch(next(rest), dialect) for _ in range(per_round)]
                groups = [
                    PreparedBatch.merge(taken[i : i + size]) for i in range(0, per_round, size)
                ]
                now = time.time_ns()
                cpu = time.thread_time()
                for group in groups:
                    with store._write_tx() as conn:  # as bench.store_growth: lock + transaction
                        write_spans(conn, group, now)
                cpu = time.thread_time() - cpu
                spent[size].append(cpu / sum(len(g.spans) for g in groups) * 1e6)
    finally:
        store.close()
    return {size: sorted(v)[len(v) // 2] for size, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=32, help="batches of 512 spans per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--grouped", action="store_true", help="instead: SQLite, 1, 2, 4 batches a transaction"
    )
    parser.add_argument("--spans", type=int, help="spans a batch (default 512; 100 --grouped)")
    args = parser.parse_args()
    if args.grouped:
        sizes, rounds = (1, 2, 4), max(args.rounds, 15)
        batches = make_batches(_WARMUP + rounds * len(sizes) * max(sizes), spans=args.spans or 100)
        with tempfile.TemporaryDirectory() as work:
            cpu = grouped(f"sqlite:///{work}/glassline.db", batches, sizes, rounds)
        print(f"{'batches a transaction':22} {'CPU µs/span under the lock':>27} {'vs 1':>6}")
        for size, us in cpu.items():
            print(f"{size:<22} {us:27.1f} {us / cpu[1]:6.2f}")
        return
    batches = make_batches(args.batches + _WARMUP, spans=args.spans or 512)
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
