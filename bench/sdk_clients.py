"""Client hooks: one ``openai`` call under Glassline, OpenLLMetry and OpenInference, against none.

    .venv/bin/python -m bench.sdk_clients                    # 300 calls per block, 12 rounds
    .venv/bin/python -m bench.sdk_clients --quick            # 100 calls per block, 4 rounds
    .venv/bin/python -m bench.sdk_clients --instructions     # + instructions per call (valgrind)

A sync chat completion and a stream of 20 chunks, made with the real ``openai`` client against
an in-process transport (``httpx2.MockTransport``) answering canned JSON and SSE, so a figure
is the client's own work plus the instrumentation's, without a network. OpenLLMetry
(``traceloop-sdk``) and OpenInference run in the venvs of ``tests/peers`` (made with uv on
first use), each instrumentation in a process of its own.

What one hook adds is measured inside that process, in alternating rounds: a block of calls
with the instrumentation off (``uninstrument``), then the same block with it on, each timed in
CPU seconds; a figure is the median of the rounds' differences. So the baseline is always the
same venv, the same process and the same minute, which a shared, loaded host needs (timing
separate processes against each other there moved figures by 2-5x). ``--instructions`` counts
instructions per call instead (valgrind's cachegrind, blocks of different sizes in separate
runs, the per-call slope): the same on any host at any load, but blind to cache misses. Then
``budget_guard().check`` against a snapshot of three budgets and a kill switch, then with a
per-user budget's 100,000 users besides.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
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

mode, task, sizes = sys.argv[1], sys.argv[2], [int(n) for n in sys.argv[3:]]

class Null(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS
    def shutdown(self):
        return None

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Null()))
trace.set_tracer_provider(provider)
if mode == "glassline":
    from glassline.instrumentation import instrument_openai as on, uninstrument_openai as off
elif mode == "openllmetry":
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    on, off = OpenAIInstrumentor().instrument, OpenAIInstrumentor().uninstrument
elif mode == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor
    on, off = OpenAIInstrumentor().instrument, OpenAIInstrumentor().uninstrument

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

SHAPES = (("sync", sync), ("stream", stream))

def block(fn, calls):
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls * 1e6

if task == "time":  # sizes: calls per block, rounds
    calls, rounds = sizes
    out = {}
    for name, fn in SHAPES:
        bare, hooked = [], []
        for _ in range(rounds):
            off(); fn(); bare.append(block(fn, calls))
            on(); fn(); hooked.append(block(fn, calls))
        out[name] = {"bare": bare, "hooked": hooked}
    off()
    print(json.dumps(out))
else:  # "count" or "count-on": sizes: sync calls, stream calls (instructions counted outside)
    if task == "count-on":
        on()
    for (name, fn), calls in zip(SHAPES, sizes):
        for _ in range(calls):
            fn()
"""

MODES = ("glassline", "openllmetry", "openinference")
SHAPES = ("sync", "stream")
_PEER_VENVS = {"openllmetry": "traceloop", "openinference": "openinference"}


def _python(mode: str) -> str:
    if mode not in _PEER_VENVS:
        return sys.executable
    from tests.peers.venvs import ensure  # uv venvs, cached under .peers/venvs

    return str(ensure(_PEER_VENVS[mode]))


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=3600, check=True, env=env
    )


def clients(calls: int, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per mode and shape: the best bare and hooked µs (CPU) and the median added µs."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        done = _run([_python(mode), "-c", WORKER, mode, "time", str(calls), str(rounds)])
        found = json.loads(done.stdout.strip().splitlines()[-1])
        out[mode] = {
            shape: {
                "bare": min(found[shape]["bare"]),
                "hooked": min(found[shape]["hooked"]),
                "added": statistics.median(
                    h - b for b, h in zip(found[shape]["bare"], found[shape]["hooked"], strict=True)
                ),
            }
            for shape in SHAPES
        }
    return out


_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _instructions(python: str, mode: str, task: str, n_sync: int, n_stream: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               python, "-c", WORKER, mode, task, str(n_sync), str(n_stream)]  # fmt: skip
    done = _run(command, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = _REFS.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def instructions(extra: int = 100) -> dict[str, dict[str, dict[str, float]]]:
    """Per mode and shape: instructions per call, bare and hooked (the slope of ``extra`` calls)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        python = _python(mode)
        out[mode] = {shape: {} for shape in SHAPES}
        for task, label in (("count", "bare"), ("count-on", "hooked")):
            base = _instructions(python, mode, task, 10, 10)
            more_sync = _instructions(python, mode, task, 10 + extra, 10)
            more_stream = _instructions(python, mode, task, 10, 10 + extra)
            out[mode]["sync"][label] = (more_sync - base) / extra
            out[mode]["stream"][label] = (more_stream - base) / extra
        for shape in SHAPES:
            out[mode][shape]["added"] = out[mode][shape]["hooked"] - out[mode][shape]["bare"]
    return out


def _table(title: str, unit: str, best: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'instrumentation':<16}{'shape':<8}{'bare ' + unit:>14}{'hooked':>14}{'added':>12}")
    for mode in MODES:
        for shape in SHAPES:
            row = best[mode][shape]
            print(f"{mode:<16}{shape:<8}{row['bare']:>14,.1f}{row['hooked']:>14,.1f}"
                  f"{row['added']:>+12,.1f}")  # fmt: skip
    for shape in SHAPES:
        peer = min(best["openllmetry"][shape]["added"], best["openinference"][shape]["added"])
        ratio = best["glassline"][shape]["added"] / peer
        print(f"{shape}: Glassline adds {ratio:.2f}x the better peer's cost (target <= 0.5x)")


def _budgets_body(users: int) -> bytes:
    """Three budgets and a kill switch, plus a per-user budget's entries for ``users`` users."""
    budgets = [
        {"rule": "daily", "tenant": "acme", "labels": {}, "spend_usd": 5.0,
         "limit_usd": 10.0, "warn_usd": 8.0},
        {"rule": "monthly", "tenant": "acme", "labels": {}, "spend_usd": 50.0,
         "limit_usd": 300.0, "warn_usd": None},
        {"rule": "per-user", "tenant": "acme", "labels": {"user": "u-9"},
         "spend_usd": 1.0, "limit_usd": 2.0, "warn_usd": 1.5},
    ]  # fmt: skip
    budgets += [
        {"rule": "per-user", "tenant": "acme", "labels": {"user": f"user-{n}"},
         "spend_usd": 1.0, "limit_usd": 2.0, "warn_usd": 1.5}
        for n in range(users)
    ]  # fmt: skip
    switches = [{"tenant": "acme", "stage": "batch", "reason": "paused"}]
    return json.dumps({"budgets": budgets, "kill_switches": switches}).encode()


def guard_check(calls: int, users: int = 0) -> float:
    """µs per ``guard.check`` (allowed: the common answer) against a loopback snapshot."""
    from glassline.instrumentation import budget_guard

    body = _budgets_body(users)

    class Budgets(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Budgets)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    guard = budget_guard(url=f"http://127.0.0.1:{server.server_address[1]}", refresh_s=3600)
    try:
        assert guard.ready() and guard.stats()["refreshes"] == 1
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


def report(calls: int, rounds: int, count_instructions: bool = False) -> None:
    """Print the client-hook tables and the guard's figure."""
    load = os.getloadavg()[0]
    _table(
        f"openai client calls: CPU µs per call, {rounds} rounds of {calls} calls off / on "
        f"(added: median of the rounds' differences), load average {load:.1f}",
        "µs",
        clients(calls, rounds),
    )
    if count_instructions:
        _table("instructions per call (valgrind; slope of 100 calls)", "instr", instructions())
    print(f"\nbudget_guard().check: {guard_check(200_000):.2f} µs per call (target <= 2 µs)")
    per_user = guard_check(20_000, users=100_000)
    print(f"the same with a per-user budget's 100,000 users: {per_user:.2f} µs per call")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per block")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of blocks off / on")
    parser.add_argument("--quick", action="store_true", help="100 calls, 4 rounds")
    parser.add_argument(
        "--instructions", action="store_true",
        help="also count instructions per call under valgrind (slow: minutes; load-proof)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds = 100, 4
    report(args.calls, args.rounds, args.instructions)


if __name__ == "__main__":
    main()
