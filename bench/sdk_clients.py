"""Client hooks: one ``openai`` call under Glassline, OpenLLMetry, OpenInference and nothing.

    .venv/bin/python -m bench.sdk_clients            # 2,000 calls per round, 5 rounds
    .venv/bin/python -m bench.sdk_clients --quick    # 300 calls per round

A sync chat completion and a stream of 20 chunks, made with the real ``openai`` client against
an in-process transport (``httpx2.MockTransport``) answering canned JSON and SSE, so a figure
is the client's own work plus the instrumentation's, without a network. Every instrumentation
patches the client for the whole process, so each runs in a process of its own; OpenLLMetry
(``traceloop-sdk``) and OpenInference run in the venvs of ``tests/peers`` (made with uv on
first use). The processes run in alternating rounds; each figure is the best round. Then
``budget_guard().check`` against a snapshot of three budgets and a kill switch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORKER = r"""
import json, sys, time
import httpx2, openai
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

mode, calls = sys.argv[1], int(sys.argv[2])

class Null(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS
    def shutdown(self):
        return None

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Null()))
trace.set_tracer_provider(provider)
if mode == "glassline":
    from glassline.instrumentation import instrument_openai
    instrument_openai()
elif mode == "openllmetry":
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()
elif mode == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument()

MODEL = "gpt-4o-mini"
USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
         "prompt_tokens_details": {"cached_tokens": 20}}
COMPLETION = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Use X."}}],
    "usage": USAGE}).encode()
base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
chunks = [{**base, "choices": [{"index": 0, "delta": {"content": f"tok{i} "},
                                "finish_reason": None}]} for i in range(19)]
chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
chunks.append({**base, "choices": [], "usage": USAGE})
STREAM = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

def answer(request):
    if json.loads(request.content).get("stream"):
        return httpx2.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, content=COMPLETION, headers={"content-type": "application/json"})

client = openai.OpenAI(api_key="k", base_url="http://fake/v1", max_retries=0,
                       http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
MESSAGES = [{"role": "user", "content": "How do I rotate my API keys?"}]

def sync():
    client.chat.completions.create(model=MODEL, messages=MESSAGES)

def stream():
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True}):
        pass

out = {}
for name, fn in (("sync", sync), ("stream", stream)):
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    out[name] = (time.perf_counter() - start) / calls * 1e6
print(json.dumps(out))
"""

MODES = ("none", "glassline", "openllmetry", "openinference")
_PEER_VENVS = {"openllmetry": "traceloop", "openinference": "openinference"}


def _python(mode: str) -> str:
    if mode not in _PEER_VENVS:
        return sys.executable
    from tests.peers.venvs import ensure  # uv venvs, cached under .peers/venvs

    return str(ensure(_PEER_VENVS[mode]))


def clients(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Best µs per call of each mode and shape over ``rounds`` alternating processes."""
    pythons = {mode: _python(mode) for mode in MODES}
    best: dict[str, dict[str, float]] = {mode: {} for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            done = subprocess.run(
                [pythons[mode], "-c", WORKER, mode, str(calls)],
                capture_output=True, text=True, timeout=600, check=True,
            )  # fmt: skip
            for shape, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
                best[mode][shape] = min(value, best[mode].get(shape, value))
    return best


class _Budgets(BaseHTTPRequestHandler):
    BODY = json.dumps(
        {
            "budgets": [
                {"rule": "daily", "tenant": "acme", "labels": {}, "spend_usd": 5.0,
                 "limit_usd": 10.0, "warn_usd": 8.0},
                {"rule": "monthly", "tenant": "acme", "labels": {}, "spend_usd": 50.0,
                 "limit_usd": 300.0, "warn_usd": None},
                {"rule": "per-user", "tenant": "acme", "labels": {"user": "u-9"},
                 "spend_usd": 1.0, "limit_usd": 2.0, "warn_usd": 1.5},
            ],
            "kill_switches": [{"tenant": "acme", "stage": "batch", "reason": "paused"}],
        }
    ).encode()  # fmt: skip

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)


def guard_check(calls: int) -> float:
    """µs per ``guard.check`` (allowed: the common answer) against a loopback snapshot."""
    from glassline.instrumentation import budget_guard

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Budgets)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    guard = budget_guard(url=f"http://127.0.0.1:{server.server_address[1]}", refresh_s=3600)
    try:
        assert guard.ready()
        check = guard.check
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(calls):
                check(tenant="acme", user="u-1", stage="generate", estimated_cost_usd=0.001)
            timings.append((time.perf_counter() - start) / calls * 1e6)
        return min(timings)
    finally:
        guard.close()
        server.shutdown()
        server.server_close()


def report(calls: int, rounds: int) -> None:
    """Print the client-hook table and the guard's figure."""
    best = clients(calls, rounds)
    print(f"\nopenai client calls, {calls} per process, best of {rounds} alternating rounds")
    print(f"{'instrumentation':<16}{'sync µs':>10}{'added':>8}{'stream µs':>11}{'added':>8}")
    for mode in MODES:
        sync, stream = best[mode]["sync"], best[mode]["stream"]
        added_sync, added_stream = sync - best["none"]["sync"], stream - best["none"]["stream"]
        print(f"{mode:<16}{sync:>10.1f}{added_sync:>8.1f}{stream:>11.1f}{added_stream:>8.1f}")
    for shape in ("sync", "stream"):
        added = {m: best[m][shape] - best["none"][shape] for m in MODES}
        peer = min(added["openllmetry"], added["openinference"])
        print(f"{shape}: Glassline adds {added['glassline'] / peer:.2f}x the better peer's cost"
              " (target <= 0.5x)")  # fmt: skip
    print(f"\nbudget_guard().check: {guard_check(200_000):.2f} µs per call (target <= 2 µs)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per process and shape")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--quick", action="store_true", help="300 calls, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds = 300, 2
    report(args.calls, args.rounds)


if __name__ == "__main__":
    main()
