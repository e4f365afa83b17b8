"""The OpenTelemetry JS SDK's own exporters against the real collector (a probe, not in CI).

    cd bench/js_exporters && npm ci          # Node.js 20; the packages pinned in the lock file
    .venv/bin/python -m bench.js_exporters [--workers 2] [--pg]

``emit.js`` sends GenAI spans (``gen_ai.*``: operation, provider, request and response model,
tokens, a tool call, an error, an event, a link, times to the nanosecond) and GenAI events as
OTLP logs, with each exporter (``exporter-trace-otlp-http`` JSON, ``-proto``, ``-grpc``, the
logs exporters alike), with and without gzip. Every span is then read back through the query
API and compared with what was sent: times, parent, kind, status, tokens, a cost, model,
provider, service, attributes, and the events' messages on their span. Then six senders at
once against a collector that admits one export at a time: refusals (429 + ``Retry-After``,
``RESOURCE_EXHAUSTED`` + RetryInfo) and what each exporter does with them.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from glassline.collector.testing import RunningCollector, run_collector

HERE = Path(__file__).parent / "js_exporters"
COMBOS = [(p, gz) for p in ("json", "proto", "grpc") for gz in (False, True)]
COPIED = ("app.flags", "app.scores", "gen_ai.response.finish_reasons",
          "gen_ai.request.temperature", "gen_ai.tool.name", "gen_ai.response.id")  # fmt: skip


def emit(collector: RunningCollector, protocol: str, gzip: bool, **extra: Any) -> Any:
    cfg = {"protocol": protocol, "gzip": gzip, "http": collector.http_endpoint,
           "grpc": f"http://{collector.grpc_endpoint}", "key": collector.api_key, "logs": True,
           **extra}  # fmt: skip
    out = subprocess.run(["node", str(HERE / "emit.js"), json.dumps(cfg)], cwd=HERE,
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _span_problems(s: dict[str, Any], g: dict[str, Any]) -> list[str]:
    """What differs between a span as sent (``s``) and as the query API answers it (``g``)."""
    a, name = s["attributes"], s["name"]
    problems = [
        f"{name}: {k} {g[k]} != {s[k]}" for k in ("start_ns", "end_ns") if str(g[k]) != s[k]
    ]
    if g["parent_span_id"] != s["parent_span_id"] or g["name"] != name:
        problems.append(f"{name}: parent {g['parent_span_id']}, name {g['name']}")
    if "gen_ai.usage.input_tokens" in a and (
        (g["input_tokens"], g["output_tokens"])
        != (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"])
        or not g["cost_usd"]
        or not g["model"]
        or not g["provider"]
    ):
        problems.append(f"{name}: tokens, cost, model, provider {g}")
    if g["cache_read_tokens"] != a.get("gen_ai.usage.cache_read.input_tokens", 0):
        problems.append(f"{name}: cache_read_tokens {g['cache_read_tokens']}")
    if s.get("status") == "error" and g["status"] != "error":
        problems.append(f"{name}: status {g['status']}")
    if s.get("kind") and g["otel_kind"] != s["kind"]:
        problems.append(f"{name}: otel_kind {g['otel_kind']}")
    if len(g["events"]) != s.get("events", 0) or g["service"] != "js-rag":
        problems.append(f"{name}: events {g['events']}, service {g['service']}")
    problems += [f"{name}: {k} {g['attributes'].get(k)!r} != {a[k]!r}"
                 for k in COPIED if k in a and g["attributes"].get(k) != a[k]]  # fmt: skip
    if name == "chat gpt-4o" and "refund" not in str(g["attributes"].get("gen_ai.input.messages")):
        problems.append(f"{name}: no input messages from the events")
    return problems


def check(collector: RunningCollector, sent: list[dict[str, Any]]) -> list[str]:
    """Every span sent, read back through the query API: what differs."""
    problems = []
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for s in sent:
        by_trace.setdefault(s["trace_id"], []).append(s)
    with httpx.Client(base_url=collector.http_endpoint, headers=collector.headers()) as c:
        for tid, spans in by_trace.items():
            r = c.get(f"/api/v1/traces/{tid}", timeout=30)
            if r.status_code != 200:
                problems.append(f"{tid}: {r.status_code} {r.text[:200]}")
                continue
            got = {g["span_id"]: g for g in r.json()["spans"]}
            for s in spans:
                g = got.get(s["span_id"])
                problems += _span_problems(s, g) if g else [f"{s['name']}: missing"]
            trace = r.json()["trace"]
            if trace["input_tokens"] != 3200 or trace["span_count"] != 4:
                problems.append(f"{tid}: trace summary {trace}")
    return problems


def stored(collector: RunningCollector, trace_ids: set[str]) -> int:
    with httpx.Client(base_url=collector.http_endpoint, headers=collector.headers()) as c:
        answers = (c.get(f"/api/v1/traces/{tid}", timeout=30) for tid in trace_ids)
        return sum(len(r.json()["spans"]) for r in answers if r.status_code == 200)


def overload(config: dict[str, Any]) -> None:
    """Six JS senders at once against a collector that admits one export at a time."""
    config = {**config, "server": {**config["server"], "max_inflight_requests": 1}}
    with run_collector(config) as collector:
        for protocol, gz in COMBOS:
            with cf.ThreadPoolExecutor(6) as ex:
                runs = [ex.submit(emit, collector, protocol, gz, traces=40, batch=16, logs=False)
                        for _ in range(6)]  # fmt: skip
                outs = [run.result() for run in runs]
            sent = [s for o in outs for s in o["sent"]]
            exports = [e for o in outs for e in o["results"]["spans"]]
            failed = [e["error"][:60] for e in exports if e["code"]]
            print(f"overload {protocol:5} gzip={gz!s:5}: {len(sent)} spans in {len(exports)} "
                  f"exports, {len(failed)} failed {failed[:1]}; stored "
                  f"{stored(collector, {s['trace_id'] for s in sent})}")  # fmt: skip
        metrics = httpx.get(f"{collector.http_endpoint}/metrics").text.splitlines()
        print("\n".join(m for m in metrics if m.startswith("glassline_requests_total")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pg", default="", help="a PostgreSQL URL to store in instead of SQLite")
    args = ap.parse_args()
    if not (HERE / "node_modules").is_dir():
        sys.exit(f"first: cd {HERE} && npm ci")
    config: dict[str, Any] = {"server": {"workers": args.workers}}
    if args.pg:
        config["storage"] = {"url": args.pg}
    failed = 0
    with run_collector(config) as collector:
        for protocol, gz in COMBOS:
            out = emit(collector, protocol, gz, traces=3)
            problems = check(collector, out["sent"])
            failed += bool(problems)
            print(f"{protocol:5} gzip={gz!s:5} {len(out['sent'])} spans, exports "
                  f"{out['results']}: {'OK' if not problems else 'PROBLEMS'}")  # fmt: skip
            for p in problems[:15]:
                print("   ", p)
    overload(config)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
