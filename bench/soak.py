"""Soak test: steady load plus 5x bursts against two collector replicas on PostgreSQL.

Sender threads export whole traces through the stock OTLP gRPC exporter, round-robin over the
replicas. Every ~10 s it prints throughput, p99 export latency, rejected (429 /
RESOURCE_EXHAUSTED) requests and each replica's RSS; at the end it checks that every
acknowledged span is in the store (sampling off) and whether RSS stayed flat.

    .venv/bin/python bench/soak.py --quick            # 1 minute
    .venv/bin/python bench/soak.py --minutes 30       # the full soak
    .venv/bin/python bench/soak.py --db-url postgresql+psycopg://...   # an existing database
"""

from __future__ import annotations

import argparse
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, text

from glassline.collector.auth import generate_key
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.collector.testing import RunningCollector, run_collector
from glassline.semconv import attributes as A

SPANS_PER_TRACE = 4
BURST_EVERY_S, BURST_LEN_S, BURST_FACTOR = 60.0, 10.0, 5
_REJECTED = re.compile(r'glassline_requests_total\{[^}]*(RESOURCE_EXHAUSTED|"429")[^}]*\} (\S+)')


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked = 0
        self.failed = 0
        self.latencies: list[float] = []

    def take(self) -> tuple[int, list[float]]:
        with self.lock:
            lat, self.latencies = self.latencies, []
            return self.acked, lat


def _trace_spans(tracer, memory: InMemorySpanExporter, n: int) -> list[ReadableSpan]:
    memory.clear()
    for _ in range(n):
        with tracer.start_as_current_span("soak-workflow"):
            for _ in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                    span.set_attributes(
                        {
                            A.GEN_AI_OPERATION_NAME: "chat",
                            A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                            A.GEN_AI_USAGE_INPUT_TOKENS: 500,
                            A.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
                        }
                    )
    return list(memory.get_finished_spans())


def _sender(idx: int, replicas, key, rate, stats: _Stats, stop: threading.Event, t0) -> None:
    """Export ``rate()`` traces/s (one batch every 0.5 s) to replicas in turn."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"soak-{idx}"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("soak")
    headers = {"authorization": f"Bearer {key}"}
    exporters = [
        OTLPSpanExporter(endpoint=r.grpc_endpoint, insecure=True, headers=headers, timeout=10)
        for r in replicas
    ]
    turn = idx
    while not stop.is_set():
        tick = time.monotonic()
        spans = _trace_spans(tracer, memory, max(1, int(rate(tick - t0) / 2)))
        start = time.perf_counter()
        result = exporters[turn % len(exporters)].export(spans)
        elapsed = time.perf_counter() - start
        turn += 1
        with stats.lock:
            stats.latencies.append(elapsed)
            if result is SpanExportResult.SUCCESS:
                stats.acked += len(spans)
            else:
                stats.failed += len(spans)
        stop.wait(max(0.0, 0.5 - (time.monotonic() - tick)))
    for exporter in exporters:
        exporter.shutdown()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rejected(replicas: list[RunningCollector]) -> int:
    total = 0.0
    for r in replicas:
        body = httpx.get(f"{r.http_endpoint}/metrics", timeout=5).text
        total += sum(float(m.group(2)) for m in _REJECTED.finditer(body))
    return int(total)


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


@contextlib.contextmanager
def _database(db_url: str | None) -> Iterator[str]:
    if db_url:
        yield db_url
    else:
        with isolated_postgres_url() as url:
            yield url


def _report(replicas, stats: _Stats, t0: float, rss: list[list[float]], last: list) -> None:
    acked, lat = stats.take()
    now = time.monotonic()
    rate = (acked - last[0]) / max(now - last[1], 1e-9)
    last[:] = [acked, now]
    sizes = [_rss_mb(r.process.pid) for r in replicas]
    for series, size in zip(rss, sizes, strict=True):
        series.append(size)
    print(
        f"t={now - t0:6.0f}s  {rate:7.0f} spans/s  p99 export {_p99(lat):6.1f} ms  "
        f"rejected {_rejected(replicas):5d}  RSS MB " + " / ".join(f"{s:.0f}" for s in sizes),
        flush=True,
    )


def _verify(db_url: str, stats: _Stats, rss: list[list[float]]) -> None:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM spans")).scalar_one()
    engine.dispose()
    print(f"acknowledged spans: {stats.acked}  failed exports (spans): {stats.failed}")
    print(f"stored spans: {stored}  missing acknowledged: {max(0, stats.acked - stored)}")
    for i, series in enumerate(rss):
        third = max(1, len(series) // 3)
        first, final = sum(series[:third]) / third, sum(series[-third:]) / third
        growth = (final - first) / first * 100 if first else 0.0
        verdict = "flat" if abs(growth) < 10 else "NOT flat"
        print(f"replica {i} RSS first third {first:.0f} MB, last third {final:.0f} MB: "
              f"{growth:+.1f} % ({verdict})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="1 minute")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--traces-per-s", type=float, default=40.0, help="steady, all senders")
    parser.add_argument("--db-url", help="PostgreSQL URL (default: a fresh schema on localhost)")
    args = parser.parse_args()
    seconds = 60.0 if args.quick else args.minutes * 60
    per_sender = args.traces_per_s / args.senders

    def rate(elapsed: float) -> float:
        in_burst = elapsed % BURST_EVERY_S >= BURST_EVERY_S - BURST_LEN_S
        return per_sender * (BURST_FACTOR if in_burst else 1)

    key = generate_key()
    config_base = {"auth": {"tenants": {"soak": [key]}, "admin_keys": [generate_key()]}}
    with _database(args.db_url) as db_url, contextlib.ExitStack() as stack:
        config = {**config_base, "storage": {"url": db_url}}
        replicas = [stack.enter_context(run_collector(config, tenants=())) for _ in range(2)]
        stats, stop, t0 = _Stats(), threading.Event(), time.monotonic()
        print(f"soak: {seconds:.0f} s, {args.traces_per_s:.0f} traces/s steady "
              f"({SPANS_PER_TRACE} spans each), {BURST_FACTOR}x for {BURST_LEN_S:.0f} s "
              f"every {BURST_EVERY_S:.0f} s, 2 replicas on PostgreSQL")  # fmt: skip
        threads = [
            threading.Thread(target=_sender, args=(i, replicas, key, rate, stats, stop, t0))
            for i in range(args.senders)
        ]
        for thread in threads:
            thread.start()
        rss: list[list[float]] = [[] for _ in replicas]
        last = [0, t0]
        while not stop.wait(10.0):
            _report(replicas, stats, t0, rss, last)
            if time.monotonic() - t0 >= seconds:
                stop.set()
        for thread in threads:
            thread.join()
        _verify(db_url, stats, rss)


if __name__ == "__main__":
    main()
