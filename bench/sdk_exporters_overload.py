"""The OpenTelemetry Python SDK's own exporters against a collector over its capacity.

    .venv/bin/python -m bench.sdk_exporters_overload                 # 20 + 20 exporters, 40 s
    .venv/bin/python -m bench.sdk_exporters_overload --exporters 40 --seconds 60 --rate 40
    .venv/bin/python -m bench.sdk_exporters_overload --collector-src /tmp/base/collector/src

The last runs another checkout's collector (``git archive <commit> collector/src``): an A/B
of collector changes with the same exporters, alternated under the bench lock.

Real ``BatchSpanProcessor`` + ``OTLPSpanExporter`` pairs (gRPC and HTTP/protobuf, the SDK's
defaults: 512-span batches, a 10 s timeout, six attempts a batch), ``--exporters`` of each
kind spread over ``--procs`` processes a kind, each making ``--rate`` GenAI spans a second for
``--seconds``, against a collector with ``--workers`` workers on SQLite. Refused, an exporter
waits exactly the hint (RetryInfo / Retry-After) and tries again, up to six attempts within
its timeout; a batch it gives up on is lost to the application. Reported by kind: batches
exported and failed (the exporters' own export results), the refusals each batch met (from the
exporters' "Transient error" log records) and the delays they were told, with the collector's
answers by transport and its refusals by bound (/metrics).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from glassline.collector.testing import RunningCollector, metric_by_label, run_collector

# One process of exporters: argv kind, endpoint, key, exporters, spans/s each, seconds, out.
WORKER = r"""
import json, logging, sys, threading, time
from collections import Counter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

kind, endpoint, key, n, rate, seconds, out = sys.argv[1:8]
n, rate, seconds = int(n), float(rate), float(seconds)
if kind == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    logger = logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter")
    make = lambda: OTLPSpanExporter(endpoint=endpoint, insecure=True,
                                    headers={"authorization": f"Bearer {key}"})
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    make = lambda: OTLPSpanExporter(endpoint=endpoint + "/v1/traces",
                                    headers={"authorization": f"Bearer {key}"})
logger.filters.clear()  # the gRPC exporter's DuplicateFilter would hide repeated refusals

local = threading.local()
delays = Counter()

class Refusals(logging.Handler):
    def emit(self, record):
        if record.msg.startswith("Transient error"):
            local.refused = getattr(local, "refused", 0) + 1
            delays[round(float(record.args[-1 if kind == "http" else 3]), 2)] += 1
        elif record.msg.startswith("Failed to export"):
            local.why = str(record.args[2] if kind == "grpc" else record.args[1:] or record.msg)

logger.addHandler(Refusals())
logger.propagate = False
results = Counter()  # "ok"/"failed" batches, and their spans
failures = Counter()  # refusals, final error and seconds of each failed batch
per_batch = Counter()  # refusals a batch met -> batches ("failed" when it was dropped)

class Counting:
    def __init__(self, exporter):
        self.exporter = exporter
    def export(self, spans):
        local.refused, local.why, began = 0, "", time.monotonic()
        result = self.exporter.export(spans)
        outcome = "ok" if result is SpanExportResult.SUCCESS else "failed"
        results[outcome] += 1
        results[outcome + "_spans"] += len(spans)
        per_batch[f"{local.refused}" + ("" if outcome == "ok" else " failed")] += 1
        if outcome == "failed":
            failures[f"{local.refused} {local.why} {time.monotonic() - began:.0f}s"] += 1
        return result
    def shutdown(self):
        self.exporter.shutdown()
    def force_flush(self, timeout_millis=30000):
        return True

providers = []
for i in range(n):
    provider = TracerProvider(resource=Resource.create({"service.name": f"{kind}-app-{i}"}))
    provider.add_span_processor(BatchSpanProcessor(Counting(make())))
    providers.append(provider)
tracers = [p.get_tracer("bench") for p in providers]
content = "The retrieval stage returned four passages about pricing tiers. " * 12
made = 0
started = time.monotonic()
while (now := time.monotonic()) < started + seconds:
    due = int((now - started) * rate)
    while made < due:
        for tracer in tracers:
            with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.usage.input_tokens", 812)
                span.set_attribute("gen_ai.usage.output_tokens", 96)
                span.set_attribute("gen_ai.prompt", content)
        made += 1
    time.sleep(0.02)
for provider in providers:
    provider.shutdown()
json.dump({"made": made * n, "results": results, "per_batch": per_batch, "failures": failures,
           "delays": {str(k): v for k, v in delays.items()}}, open(out, "w"))
"""


def run(collector: RunningCollector, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Start every exporter process, wait for them, and sum their reports by kind."""
    endpoints = {"grpc": collector.grpc_endpoint, "http": collector.http_endpoint}
    each = [args.exporters // args.procs + (i < args.exporters % args.procs)
            for i in range(args.procs)]  # fmt: skip
    procs = []
    for kind in ("grpc", "http"):
        for i, n in enumerate(each):
            out = work / f"{kind}-{i}.json"
            argv = [sys.executable, "-c", WORKER, kind, endpoints[kind], collector.api_key,
                    str(n), str(args.rate), str(args.seconds), str(out)]  # fmt: skip
            procs.append((kind, out, subprocess.Popen(argv)))
    by_kind: dict[str, dict[str, Counter[str]]] = {}
    for kind, out, proc in procs:
        proc.wait(timeout=args.seconds + 120)
        report = json.loads(out.read_text())
        mine = by_kind.setdefault(kind, {"made": Counter(), "results": Counter(),
                                         "per_batch": Counter(), "delays": Counter(),
                                         "failures": Counter()})  # fmt: skip
        mine["made"]["spans"] += report["made"]
        for part in ("results", "per_batch", "delays", "failures"):
            mine[part].update(report[part])
    return by_kind


def _answers(http_endpoint: str) -> dict[str, float]:
    """The collector's answers to exports, by ``transport outcome``."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{http_endpoint}/metrics", timeout=30).text.splitlines():
        if line.startswith("glassline_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[f"{labels['transport']} {labels['outcome']}"] = float(line.rsplit(" ", 1)[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporters", type=int, default=20, help="exporters of each kind")
    parser.add_argument("--procs", type=int, default=2, help="processes of each kind")
    parser.add_argument("--rate", type=float, default=150.0, help="spans/s of each exporter")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ports", type=int, nargs=2, default=None, help="gRPC and HTTP ports")
    parser.add_argument("--retry-after", type=float, default=None, help="server.retry_after_s")
    parser.add_argument(
        "--collector-src",
        type=Path,
        default=None,
        help="run the collector from this checkout's collector/src (an A/B)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    server: dict[str, Any] = {"workers": args.workers}
    if args.retry_after is not None:
        server["retry_after_s"] = args.retry_after
    if args.ports:
        server["grpc_port"], server["http_port"] = args.ports
    with tempfile.TemporaryDirectory(prefix="glassline-sdk-overload-") as tmp:
        work = Path(tmp)
        env = {"PYTHONPATH": str(args.collector_src)} if args.collector_src else None
        with run_collector({"server": server}, workdir=work / "collector", env=env) as collector:
            started = time.monotonic()
            by_kind = run(collector, args, work)
            elapsed = time.monotonic() - started
            answers = _answers(collector.http_endpoint)
            refused = metric_by_label(collector.http_endpoint,
                                      "glassline_requests_refused_total", "bound")  # fmt: skip
    report = {"elapsed_s": round(elapsed, 1), "refused_by_bound": refused, "answers": answers}
    for kind, parts in by_kind.items():
        results = parts["results"]
        batches = results["ok"] + results["failed"]
        refusals = sum(int(k.split()[0]) * v for k, v in parts["per_batch"].items())
        report[kind] = {
            "spans_made": parts["made"]["spans"],
            "batches": batches,
            "failed": results["failed"],
            "failed_pct": round(100 * results["failed"] / max(1, batches), 2),
            "refusals_per_ok": round(refusals / max(1, results["ok"]), 3),
            "spans_ok": results["ok_spans"],
            "refusals_per_batch": dict(sorted(parts["per_batch"].items())),
            "delays": dict(sorted(parts["delays"].items(), key=lambda kv: -kv[1])[:8]),
            "failures": dict(parts["failures"].most_common(12)),
        }
    text = json.dumps(report, indent=1, default=dict)
    print(text)
    if args.json is not None:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
