"""Does a SQLite write get dearer as the file grows? Two writer processes, one store, in-process.

    .venv/bin/python -m bench.store_growth                          # 120 s, sequential trace ids
    .venv/bin/python -m bench.store_growth --seconds 120 --keys random

Like the collector's two runners: two processes write into one SQLite file, one transaction
at a time (the store's write lock), each with its own WAL checkpoint thread. Each batch is the
overload bench's request (100 LLM spans of ~1.5 KB, 13 traces), decoded and normalized by the
collector's processors outside the lock, with fresh trace ids: ``seq`` as bench.overload gives
them (in order), ``random`` as real clients do. Without gRPC, the front process and the load
generator beside it, what is left is the store's own cost, interval by interval:

- hold: milliseconds a write transaction holds the lock (BEGIN to COMMIT), per batch; with
  the lock held nearly all the time, this is what bounds the collector's capacity;
- CPU: the writers' CPU time (checkpoint threads included) per 1,000 spans;
- reads and writes: the writers' read and write system calls per batch (SQLite's page reads,
  WAL frames and checkpoint copies; each transaction starts with an empty page cache, since
  the other process wrote since its last);
- prepare: milliseconds per batch to decode, normalize and prepare it (outside the lock). It
  does not depend on the file, so it is the control: on a shared machine an interval can be
  20% slower for everyone, and ``hold / prepare`` is what the file size changes;
- the database and WAL file sizes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from bench.loadgen import MARK, template
from glassline.collector.config import CollectorConfig
from glassline.collector.decode import decode_protobuf
from glassline.collector.server import build_processors
from glassline.collector.storage import Store
from glassline.collector.storage.writer import PreparedBatch, write_batch


@dataclass(frozen=True)
class Interval:
    """One writer's totals over one interval."""

    spans: int
    batches: int
    prepare_s: float
    hold_s: float
    cpu_s: float
    reads: int
    writes: int

    def __add__(self, other: Interval) -> Interval:
        return Interval(
            self.spans + other.spans,
            self.batches + other.batches,
            self.prepare_s + other.prepare_s,
            self.hold_s + other.hold_s,
            self.cpu_s + other.cpu_s,
            self.reads + other.reads,
            self.writes + other.writes,
        )


def _io() -> tuple[int, int]:
    """This process's read and write system calls so far."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def _prefix(keys: str, writer: int, n: int, rng: random.Random) -> bytes:
    """The first 8 bytes of every trace id of batch ``n``: in order, or as a client draws them."""
    if keys == "random":
        return rng.randbytes(8)
    return bytes([1, writer]) + n.to_bytes(6, "big")


def writer(
    index: int, url: str, keys: str, seconds: float, every_s: float, out: Queue[Any]
) -> None:
    """Write fresh batches for ``seconds``; put (interval number, Interval) on ``out`` every
    ``every_s``, then None."""
    store = Store.open(url, index_old_traces=False)
    processors = build_processors(CollectorConfig(redaction=None))  # bench.redaction's job
    pieces = template()[0].split(MARK)
    rng = random.Random(index)
    n, k, spans, batches, prepare, hold = 0, 0, 0, 0, 0.0, 0.0
    io, cpu = _io(), time.process_time()
    end, report = time.monotonic() + seconds, time.monotonic() + every_s
    while time.monotonic() < end:
        n += 1
        start = time.perf_counter()
        body = _prefix(keys, index, n, rng).join(pieces)
        records = decode_protobuf(body, "bench", max_spans=10_000).records
        for processor in processors:
            records = processor.process(records)
        prepared = PreparedBatch(records, store.engine.dialect)
        prepare += time.perf_counter() - start
        with store._write_tx() as conn:
            start = time.perf_counter()
            write_batch(conn, prepared, time.time_ns())
        hold += time.perf_counter() - start  # COMMIT included, the wait for the lock not
        spans, batches = spans + len(records), batches + 1
        if time.monotonic() >= report:
            now_io, now_cpu = _io(), time.process_time()
            reads, writes = now_io[0] - io[0], now_io[1] - io[1]
            out.put((k, Interval(spans, batches, prepare, hold, now_cpu - cpu, reads, writes)))
            k += 1
            spans, batches, prepare, hold, io, cpu = 0, 0, 0.0, 0.0, now_io, now_cpu
            report += every_s
    store.close()
    out.put(None)


def _size_mb(path: str) -> int:
    return os.path.getsize(path) >> 20 if os.path.exists(path) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--every", type=float, default=15.0, help="seconds per interval")
    parser.add_argument("--keys", choices=("seq", "random"), default="seq")
    parser.add_argument("--workers", type=int, default=2, help="writer processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="store-growth-") as work:
        path = f"{work}/glassline.db"
        Store.open(f"sqlite:///{path}").close()  # migrated once, before the writers race
        context = multiprocessing.get_context("spawn")
        out: Queue[Any] = context.Queue()
        processes = [
            context.Process(
                target=writer,
                args=(i, f"sqlite:///{path}", args.keys, args.seconds, args.every, out),
            )
            for i in range(args.workers)
        ]
        print(f"load average {os.getloadavg()[0]:.2f}; {args.workers} writers, {args.keys} ids")
        for process in processes:
            process.start()
        running, pending, t0 = len(processes), dict[int, list[Interval]](), time.monotonic()
        while running:
            got = out.get()
            if got is None:
                running -= 1
                continue
            k, interval = got
            pending.setdefault(k, []).append(interval)
            if len(pending[k]) < len(processes):
                continue  # one line when every writer has reported the interval
            first, *rest = pending.pop(k)
            total = sum(rest, first)
            print(
                f"{time.monotonic() - t0:5.0f} s {total.spans / args.every:7.0f} spans/s"
                f"  hold {total.hold_s / total.batches * 1e3:5.1f} ms/batch"
                f"  prepare {total.prepare_s / total.batches * 1e3:4.1f}"
                f"  (hold/prepare {total.hold_s / total.prepare_s:4.2f})"
                f"  CPU {total.cpu_s / total.spans * 1e6:4.0f} ms/1k spans"
                f"  reads {total.reads / total.batches:4.0f} writes {total.writes / total.batches:4.0f}"
                f" /batch  db {_size_mb(path)} MB  WAL {_size_mb(path + '-wal')} MB"
                f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        for process in processes:
            process.join()


if __name__ == "__main__":
    main()
