"""Sustained ingest throughput of the real collector, in spans/s stored.

    .venv/bin/python -m bench.ingest --quick          # ~1 minute: short runs, SQLite only
    .venv/bin/python -m bench.ingest                  # SQLite + PostgreSQL, redaction off/on
    .venv/bin/python -m bench.ingest --workers 1 --seconds 30 --no-postgres
    .venv/bin/python -m bench.ingest --only postgresql --workers 1 --replicas 1,2
    .venv/bin/python -m bench.ingest --no-postgres --only "redaction on" --sampling
    .venv/bin/python -m bench.ingest --spread --seconds 10   # 1 vs 2 workers x 1 vs 2 connections

``--spread`` runs one scenario with 1 and 2 workers while the client threads share 1, then 2
connections (an OTLP exporter keeps one or two): 2 workers should store 1.8x what one does
either way, since the workers run each other's exports. ``--replicas 1,2`` runs each
PostgreSQL scenario with one, then two collector replicas (each with ``--workers`` workers)
on one database, the client threads spread over them; it also
reports the CPU time the collectors and the PostgreSQL backends spent per 1,000 spans, the
figures a capacity plan extrapolates from. ``--sampling`` adds SQLite with redaction and tail
sampling on: what tail sampling costs the whole ingest path (its check is then that every
acknowledged span is counted in the rollups, since dropped traces' spans are deleted).

Each scenario starts the collector (``glassline-collector``, a subprocess) and sends
pre-encoded OTLP/gRPC requests of 512 realistic LLM spans (about 1 KB of prompt + completion
content each, some of it PII) from client threads, for a fixed time. Only acknowledged spans
count, and the stored count is checked against them afterwards. The ceiling, measured in the
same run, is one process of the same receiver decoding every attribute and discarding the
spans. PostgreSQL runs use a throwaway database on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
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

from bench.sampling import POLICIES
from glassline.collector.auth import generate_key
from glassline.collector.storage import Store
from glassline.collector.storage.models import Rollup
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import metric_by_label, run_collector
from glassline.semconv import attributes as attrs

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
    collector_cpu_s: float | None = None  # CPU of the collector processes in the window
    postgres_cpu_s: float | None = None  # CPU of this database's PostgreSQL backends
    kept: int | None = None  # with tail sampling: spans still stored (``stored`` = counted)
    client_cpu_s: float | None = None  # CPU of this bench's client threads in the window
    host_cpu_s: float | None = None  # CPU of the whole host in the window (every process)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds of each of ``pids`` so far (Linux /proc; gone pids left out)."""
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return out


def host_cpu_s() -> float:
    """CPU seconds the whole host has spent busy since boot (Linux /proc/stat; 0 elsewhere):
    every process's, so what the collector and the client did not use shows who else ran."""
    with contextlib.suppress(OSError):
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
        )
        return (user + nice + system + irq + softirq) / _TICK
    return 0.0


def _cpu_since(before: dict[int, float], pids: set[int]) -> float:
    """CPU seconds ``pids`` spent since ``before`` (a pid new since then counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in _cpu_s(pids).items())


def _process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (a collector with workers is a supervisor and children)."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def _backends(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
            return {int(r[0]) for r in rows}
    finally:
        engine.dispose()


def _channel(endpoint: str) -> grpc.Channel:
    """A channel on a TCP connection of its own (channels of one process otherwise share one)."""
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
    return grpc.insecure_channel(endpoint, options=options)


def drive(
    endpoint: str | list[str], key: str, bodies: list[bytes], seconds: float, threads: int,
    *, method: str = EXPORT, per_request: int = 512, connections: int | None = None,
) -> tuple[int, int, float]:  # fmt: skip
    """Send ``bodies`` round-robin (each at most once) from ``threads`` for ``seconds``.

    With several endpoints (replicas), client thread ``i`` talks to endpoint ``i % n``.
    ``method`` is the gRPC export method; each body holds ``per_request`` spans or records.
    Each thread has its own connection, or with ``connections`` the threads share that many
    (as an app's exporter threads share its one or two keep-alive connections).
    """
    endpoints = [endpoint] if isinstance(endpoint, str) else endpoint
    acked = refused = 0
    lock = threading.Lock()
    queue = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds
    shared = [_channel(endpoints[i % len(endpoints)]) for i in range(connections or 0)]

    def client(i: int) -> None:
        nonlocal acked, refused
        # Without ``connections`` each client thread stands for one app process with its own
        # TCP connection, which the kernel places on one of the collector's workers.
        own = None if shared else _channel(endpoints[i % len(endpoints)])
        ch = shared[i % len(shared)] if shared else own
        assert ch is not None
        with own or contextlib.nullcontext():
            export = ch.unary_unary(method)
            while time.monotonic() < deadline:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                try:
                    export(bodies[i], metadata=(("x-glassline-api-key", key),), timeout=60)
                    with lock:
                        acked += per_request
                except grpc.RpcError:
                    with lock:
                        refused += 1
                    time.sleep(0.05)  # honour backpressure instead of spinning

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for ch in shared:
        ch.close()
    return acked, refused, time.monotonic() - started


def stored_spans(url: str) -> int:
    store = Store.open(url)
    try:
        with store.session() as s:
            return int(s.scalar(select(func.count()).select_from(SpanRow)) or 0)
    finally:
        store.close()


def counted_spans(url: str) -> int:
    """Spans counted in the minute rollups: every accepted span, sampled out or not."""
    store = Store.open(url)
    try:
        with store.session() as s:
            return int(s.scalar(select(func.sum(Rollup.count))) or 0)
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
def discard_collector(config: dict[str, Any]) -> Any:
    """One discard server, started the way run_collector starts a collector.

    One process, whatever ``--workers`` says: the ports are no longer shared between
    processes (a collector with workers is a front plus runners), so a second one could not bind.
    """
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
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "--discard-server", str(path)]
        )
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
            proc.terminate()
            proc.wait(30)


def scenario(name: str, config: dict[str, Any], bodies: list[bytes], args: argparse.Namespace,
             discard: bool = False, connections: int | None = None) -> Result:  # fmt: skip
    if discard:
        with discard_collector(config) as (endpoint, key):
            acked, refused, elapsed = _measure(endpoint, key, bodies, args)
        return Result(name, acked / elapsed, acked, None, refused)
    with tempfile.TemporaryDirectory(prefix="glassline-bench-") as work:
        with run_collector(config, workdir=work, tenants=("bench",)) as collector:
            endpoint, key = collector.grpc_endpoint, collector.api_key
            drive(endpoint, key, bodies[:2], 60, 2)  # warm-up, outside the measured window
            pids = _process_tree(collector.process.pid)
            cpu0, client0, host0 = _cpu_s(pids), time.process_time(), host_cpu_s()
            acked, refused, elapsed = drive(
                endpoint, key, bodies[2:], args.seconds, args.threads, connections=connections
            )
            cpu = _cpu_since(cpu0, pids)
            client_cpu = time.process_time() - client0
            host = host_cpu_s() - host0
            runs = metric_by_label(collector.http_endpoint, "glassline_exports_run_total", "worker")
        if len(runs) > 1:
            total = sum(runs.values())
            share = ", ".join(f"worker {w} {n / total:.0%}" for w, n in sorted(runs.items()))
            name = f"{name} ({share})"
        stored = stored_spans(collector.db_url) - 1024  # minus the warm-up
        if config.get("sampling"):  # spans dropped by policy are gone, but counted
            kept, stored = stored, counted_spans(collector.db_url) - 1024
            return Result(name, acked / elapsed, acked, stored, refused, cpu, kept=kept)
    return Result(name, acked / elapsed, acked, stored, refused, collector_cpu_s=cpu,
                  client_cpu_s=client_cpu, host_cpu_s=host)  # fmt: skip


def spread(config: dict[str, Any], bodies: list[bytes], args: argparse.Namespace) -> int:
    """Stored spans/s with 1 and 2 workers, the clients on 1 and on 2 connections."""
    print(f"\nspread over workers: {args.spread}, {args.threads} client threads sharing the "
          f"connections, {args.seconds:.0f}s each, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    rates: dict[tuple[int, int], float] = {}
    for connections in (1, 2):
        for workers in (1, 2):
            server = {**config.get("server", {}), "workers": workers}
            label = f"{workers} worker{'s' if workers > 1 else ''}, {connections} connection" + (
                "s" if connections > 1 else ""
            )
            r = scenario(label, {**config, "server": server}, bodies, args, connections=connections)
            _print(r)
            rates[workers, connections] = r.spans_per_s
    print(
        f"\n{'connections':<12}{'1 worker':>14}{'2 workers':>14}{'2w / 1w':>10}   (target >= 1.8x;"
        f" load average now {os.getloadavg()[0]:.1f})"
    )
    for connections in (1, 2):
        one, two = rates[1, connections], rates[2, connections]
        print(f"{connections:<12}{one:>9,.0f} sp/s{two:>9,.0f} sp/s{two / one:>9.2f}x")
    return 0


def _measure(
    endpoint: str | list[str], key: str, bodies: list[bytes], args: argparse.Namespace
) -> tuple[int, int, float]:
    # Warm up (imports, Presidio, connections) outside the measured window.
    drive(endpoint, key, bodies[:2], 60, 2)
    return drive(endpoint, key, bodies[2:], args.seconds, args.threads)


def replica_scenario(
    name: str, config: dict[str, Any], url: str, replicas: int, bodies: list[bytes],
    args: argparse.Namespace,
) -> Result:  # fmt: skip
    """``replicas`` collectors on the database ``url``, with their CPU and PostgreSQL's."""
    key = generate_key()
    config = {**config, "storage": {"url": url}, "auth": {"tenants": {"bench": [key]}}}
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="glassline-bench-"))
        # One after another: the first applies the migrations.
        running = [
            stack.enter_context(run_collector(config, workdir=f"{work}/{i}", tenants=()))
            for i in range(replicas)
        ]
        endpoints = [c.grpc_endpoint for c in running]
        drive(endpoints, key, bodies[:2], 60, 2 * replicas)  # warm up every replica
        pids = set().union(*(_process_tree(c.process.pid) for c in running))
        cpu0, pg0 = _cpu_s(pids), _cpu_s(_backends(url))
        acked, refused, elapsed = drive(endpoints, key, bodies[2:], args.seconds, args.threads)
        # A backend that ended in the window is missed (rare: the pools keep connections).
        pg_cpu = _cpu_since(pg0, _backends(url))
        collector_cpu = _cpu_since(cpu0, pids)
    stored = stored_spans(url) - 1024  # minus the warm-up
    return Result(name, acked / elapsed, acked, stored, refused, collector_cpu, pg_cpu)


def _print(r: Result) -> None:
    print(f"{r.name:<42} {r.spans_per_s:>9,.0f} spans/s  acked {r.acknowledged:>8,}  "
          f"stored {'-' if r.stored is None else f'{r.stored:,}':>8}  refused {r.refused}")  # fmt: skip
    if r.kept is not None and r.stored:
        print(f"{'':<42} counted in the rollups: all {r.stored:,}; still stored after the tail "
              f"decisions: {r.kept:,} ({r.kept / r.stored:.0%})")  # fmt: skip
    if r.collector_cpu_s is not None and r.acknowledged:
        per_k = 1000 / r.acknowledged * 1000  # ms per 1,000 spans
        pg = "" if r.postgres_cpu_s is None else f", PostgreSQL {r.postgres_cpu_s * per_k:.0f} ms"
        cores = r.collector_cpu_s * r.spans_per_s / r.acknowledged  # CPU s per wall s
        load = os.getloadavg()[0]  # the CPU figure holds under load; spans/s does not
        client = ""
        if r.client_cpu_s is not None:  # the load generator shares the cores
            client = f", the client {r.client_cpu_s * r.spans_per_s / r.acknowledged:.2f}"
        if r.host_cpu_s is not None and r.client_cpu_s is not None:
            # Work outside the bench lock takes cores two workers need and one does not:
            # a run where this is over ~0.1 measures the host, not the collector.
            others = r.host_cpu_s - r.collector_cpu_s - r.client_cpu_s
            client += f", other processes {others * r.spans_per_s / r.acknowledged:.2f}"
        print(f"{'':<42} CPU per 1,000 spans: collector {r.collector_cpu_s * per_k:.0f} ms{pg}; "
              f"the collector used {cores:.2f} cores{client} (load average {load:.1f} on "
              f"{os.cpu_count()} cores)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs, SQLite only")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per scenario")
    parser.add_argument("--workers", type=int, default=2, help="collector worker processes")
    parser.add_argument("--threads", type=int, default=6, help="client threads")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--replicas", default="", metavar="N[,N...]",
        help="PostgreSQL runs with N collector replicas each (e.g. 1,2), with CPU per span",
    )  # fmt: skip
    parser.add_argument("--only", metavar="TEXT", help="run the scenarios whose name has TEXT")
    parser.add_argument(
        "--sampling", action="store_true",
        help="also SQLite with redaction and tail sampling on (decided 2 s after a trace's "
        "last span; error, latency and 10%% probabilistic policies): its cost on real ingest",
    )  # fmt: skip
    parser.add_argument(
        "--spread", nargs="?", const="sqlite, redaction on", metavar="SCENARIO",
        help="only SCENARIO (default: %(const)s) with 1 and 2 workers x 1 and 2 client "
        "connections shared by the threads: does the work spread over the workers?",
    )  # fmt: skip
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
    # No connection ageing: the workers hand exports to each other (collector/handoff.py), so
    # the spans/s must not depend on which worker the kernel put each connection on.
    server = {"workers": args.workers, "max_inflight_requests": 16}
    runs = [("ceiling: decode + discard, one process", {"server": server, "redaction": None}, True, False),
            ("sqlite, redaction off", {"server": server, "redaction": None}, False, False),
            ("sqlite, redaction on, names off",
             {"server": server, "redaction": {"names": {"enabled": False}}}, False, False),
            ("sqlite, redaction on", {"server": server}, False, False)]  # fmt: skip
    if args.sampling:
        sampling = {"tail_enabled": True, "decision_wait_s": 2, "policies": POLICIES}
        runs.append(("sqlite, redaction on, tail sampling", {"server": server, "sampling": sampling},
                     False, False))  # fmt: skip
    if not args.no_postgres:
        runs += [("postgresql, redaction off", {"server": server, "redaction": None}, False, True),
                 ("postgresql, redaction on", {"server": server}, False, True)]  # fmt: skip
    if args.spread:
        return spread(next(r[1] for r in runs if r[0] == args.spread), bodies, args)
    if args.only:  # the ceiling always runs: every figure is relative to it
        runs = runs[:1] + [r for r in runs[1:] if args.only in r[0]]
    if importlib.util.find_spec("glassline.collector.processors.redact") is None:
        print("NOTE: no redact processor in this build: 'redaction on' runs without it")
    replica_counts = [int(n) for n in args.replicas.split(",") if n] or [None]
    results = []
    for name, config, discard, pg in runs:
        for n in replica_counts if pg else [None]:
            if pg and n is not None:
                with postgres_database() as url:
                    label = f"{name}, {n} replica{'s' if n > 1 else ''}"
                    results.append(replica_scenario(label, config, url, n, bodies, args))
            elif pg:
                with postgres_database() as url:
                    pg_config = {**config, "storage": {"url": url}}
                    results.append(scenario(name, pg_config, bodies, args))
            else:
                results.append(scenario(name, config, bodies, args, discard=discard))
            _print(results[-1])
    ceiling = results[0].spans_per_s
    print(f"\n{args.workers} worker(s), {args.threads} client threads (a connection each), "
          f"{args.seconds:.0f}s each")  # fmt: skip
    for r in results[1:]:
        print(f"{r.name:<42} {r.spans_per_s / ceiling:>6.0%} of the ceiling")
        if r.stored is not None and r.stored < r.acknowledged:
            print(
                f"  ERROR: {r.acknowledged - r.stored} acknowledged spans missing", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
