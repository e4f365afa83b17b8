"""Sustained ingest throughput of the real collector, in spans/s stored.

    .venv/bin/python -m bench.ingest --quick          # ~1 minute: short runs, SQLite only
    .venv/bin/python -m bench.ingest                  # SQLite + PostgreSQL, redaction off/on
    .venv/bin/python -m bench.ingest --workers 1 --seconds 30 --no-postgres

Each scenario starts the collector (``glassline-collector``, a subprocess) and sends
pre-encoded OTLP/gRPC requests of 512 realistic LLM spans (about 1 KB of prompt + completion
content each, some of it PII) from client threads, for a fixed time. Only acknowledged spans
count, and the stored count is checked against them afterwards. The ceiling, measured in the
same run, is the same receiver decoding every attribute and discarding the spans. PostgreSQL
runs use a throwaway database on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import create_engine, func, select, text

from glassline.collector.storage import Store
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import run_collector
from glassline.instrumentation import attributes as attrs

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
WORDS = [
    "the",
    "retrieval",
    "stage",
    "returned",
    "four",
    "passages",
    "about",
    "pricing",
    "tiers",
    "and",
    "the",
    "refund",
    "policy",
    "for",
    "annual",
    "plans",
    "so",
    "the",
    "answer",
    "should",
    "cite",
    "section",
    "two",
    "and",
    "mention",
    "the",
    "deadline",
]
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022")


def _content(rng: random.Random, n_words: int, pii: bool) -> str:
    text_ = " ".join(rng.choice(WORDS) for _ in range(n_words))
    if pii:
        text_ += f" Contact jane.doe{rng.randint(1, 999)}@example.com or +1 415 555 {rng.randint(1000, 9999)}."
    return text_


def make_batch(rng: random.Random, size: int = 512) -> bytes:
    """One ExportTraceServiceRequest: traces of a workflow span + LLM calls with content."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key=attrs.SERVICE_NAME).value.string_value = "rag-app"
    ss = rs.scope_spans.add()
    ss.scope.name = "glassline"
    now = time.time_ns()
    for i in range(size):
        if i % 8 == 0:
            trace_id, root = rng.randbytes(16), rng.randbytes(8)
        span = ss.spans.add(
            trace_id=trace_id, span_id=root if i % 8 == 0 else rng.randbytes(8),
            parent_span_id=b"" if i % 8 == 0 else root, name="chat" if i % 8 else "answer",
            kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now - 900_000_000,
            end_time_unix_nano=now - rng.randint(1, 800) * 1_000_000,
        )  # fmt: skip
        _llm_attributes(span, rng, pii=i % 4 == 1)
    return request.SerializeToString()


def _llm_attributes(span: Span, rng: random.Random, pii: bool) -> None:
    prompt = json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": _content(rng, 60, pii)}]}]
    )
    answer = json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": _content(rng, 50, False)}]}]
    )
    values: dict[str, Any] = {
        attrs.GEN_AI_OPERATION_NAME: "chat", attrs.GEN_AI_PROVIDER_NAME: "openai",
        attrs.GEN_AI_REQUEST_MODEL: rng.choice(MODELS), attrs.GEN_AI_USAGE_INPUT_TOKENS: rng.randint(200, 900),
        attrs.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randint(20, 300), attrs.STAGE: "generate",
        attrs.USER_ID: f"user-{rng.randint(1, 500)}", attrs.SESSION_ID: f"s-{rng.randint(1, 2000)}",
        attrs.GEN_AI_INPUT_MESSAGES: prompt, attrs.GEN_AI_OUTPUT_MESSAGES: answer,
    }  # fmt: skip
    for key, value in values.items():
        slot = span.attributes.add(key=key).value
        if isinstance(value, int):
            slot.int_value = value
        else:
            slot.string_value = value


@dataclass
class Result:
    name: str
    spans_per_s: float
    acknowledged: int
    stored: int | None
    refused: int


def drive(
    endpoint: str, key: str, bodies: list[bytes], seconds: float, threads: int
) -> tuple[int, int, float]:
    """Send ``bodies`` round-robin (each at most once) from ``threads`` for ``seconds``."""
    acked = refused = 0
    lock = threading.Lock()
    queue = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal acked, refused
        with grpc.insecure_channel(
            endpoint, options=[("grpc.max_send_message_length", 64 << 20)]
        ) as ch:
            export = ch.unary_unary(EXPORT)
            while time.monotonic() < deadline:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                try:
                    export(bodies[i], metadata=(("x-glassline-api-key", key),), timeout=60)
                    with lock:
                        acked += 512
                except grpc.RpcError:
                    with lock:
                        refused += 1
                    time.sleep(0.05)  # honour backpressure instead of spinning

    started = time.monotonic()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return acked, refused, time.monotonic() - started


def stored_spans(url: str) -> int:
    store = Store.open(url)
    try:
        with store.session() as s:
            return int(s.scalar(select(func.count()).select_from(SpanRow)) or 0)
    finally:
        store.close()


@contextmanager
def postgres_database() -> Any:
    name = f"glassline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Discard:
    """The ceiling's only processor: everything decoded, nothing kept."""

    name = "discard"

    def process(self, batch: list[Any]) -> list[Any]:
        return []


def discard_server(config_path: str) -> None:
    """One real collector worker whose pipeline drops every span after decoding it."""
    import asyncio
    import signal

    from glassline.collector.config import load_config
    from glassline.collector.server import Worker

    config = load_config(config_path)

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await Worker(config, processors=[_Discard()]).serve(stop)

    asyncio.run(run())


@contextmanager
def discard_collector(config: dict[str, Any], workers: int) -> Any:
    """``workers`` discard servers sharing the ports, started the way run_collector starts one."""
    import subprocess

    with run_collector(config, tenants=("bench",)) as probe:  # writes a full config, then stops
        config_path, endpoint, key = (
            probe.config_path.read_text(),
            probe.grpc_endpoint,
            probe.api_key,
        )
        http = probe.http_endpoint
    with tempfile.TemporaryDirectory(prefix="glassline-ceiling-") as work:
        path = Path(work) / "collector.yaml"
        path.write_text(config_path)
        procs = [subprocess.Popen([sys.executable, "-m", "bench.ingest", "--discard-server", str(path)])
                 for _ in range(workers)]  # fmt: skip
        try:
            import httpx

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{http}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield endpoint, key
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)


def scenario(name: str, config: dict[str, Any], bodies: list[bytes], args: argparse.Namespace,
             discard: bool = False) -> Result:  # fmt: skip
    if discard:
        with discard_collector(config, args.workers) as (endpoint, key):
            acked, refused, elapsed = _measure(endpoint, key, bodies, args)
        return Result(name, acked / elapsed, acked, None, refused)
    with tempfile.TemporaryDirectory(prefix="glassline-bench-") as work:
        with run_collector(config, workdir=work, tenants=("bench",)) as collector:
            acked, refused, elapsed = _measure(
                collector.grpc_endpoint, collector.api_key, bodies, args
            )
        stored = stored_spans(collector.db_url) - 1024  # minus the warm-up
    return Result(name, acked / elapsed, acked, stored, refused)


def _measure(
    endpoint: str, key: str, bodies: list[bytes], args: argparse.Namespace
) -> tuple[int, int, float]:
    # Warm up (imports, Presidio, connections) outside the measured window.
    drive(endpoint, key, bodies[:2], 60, 2)
    return drive(endpoint, key, bodies[2:], args.seconds, args.threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs, SQLite only")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per scenario")
    parser.add_argument("--workers", type=int, default=2, help="collector worker processes")
    parser.add_argument("--threads", type=int, default=6, help="client threads")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only", metavar="TEXT", help="run the scenarios whose name has TEXT")
    parser.add_argument("--discard-server", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.discard_server:
        discard_server(args.discard_server)
        return 0
    if args.quick:
        args.seconds, args.no_postgres = 5.0, True
    rng = random.Random(7)
    n_bodies = int(args.seconds * 60) + 4  # enough for ~30k spans/s without repeating
    print(f"encoding {n_bodies} requests of 512 spans ...", file=sys.stderr)
    bodies = [make_batch(rng) for _ in range(n_bodies)]
    print(f"request size {len(bodies[0]) / 1024:.0f} KiB ({len(bodies[0]) / 512:.0f} B/span)")
    server = {"workers": args.workers, "max_inflight_requests": 16}
    runs = [("ceiling: decode + discard", {"server": server, "redaction": None}, True, False),
            ("sqlite, redaction off", {"server": server, "redaction": None}, False, False),
            ("sqlite, redaction on", {"server": server}, False, False)]  # fmt: skip
    if not args.no_postgres:
        runs += [("postgresql, redaction off", {"server": server, "redaction": None}, False, True),
                 ("postgresql, redaction on", {"server": server}, False, True)]  # fmt: skip
    if args.only:  # the ceiling always runs: every figure is relative to it
        runs = runs[:1] + [r for r in runs[1:] if args.only in r[0]]
    if importlib.util.find_spec("glassline.collector.processors.redact") is None:
        print("NOTE: no redact processor in this build: 'redaction on' runs without it")
    results = []
    for name, config, discard, pg in runs:
        if pg:
            with postgres_database() as url:
                results.append(scenario(name, {**config, "storage": {"url": url}}, bodies, args))
        else:
            results.append(scenario(name, config, bodies, args, discard=discard))
        r = results[-1]
        print(f"{r.name:<30} {r.spans_per_s:>9,.0f} spans/s  acked {r.acknowledged:>8,}  "
              f"stored {'-' if r.stored is None else f'{r.stored:,}':>8}  refused {r.refused}")  # fmt: skip
    ceiling = results[0].spans_per_s
    print(f"\n{args.workers} worker(s), {args.threads} client threads, {args.seconds:.0f}s each")
    for r in results[1:]:
        print(f"{r.name:<30} {r.spans_per_s / ceiling:>6.0%} of the ceiling")
        if r.stored is not None and r.stored < r.acknowledged:
            print(
                f"  ERROR: {r.acknowledged - r.stored} acknowledged spans missing", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
