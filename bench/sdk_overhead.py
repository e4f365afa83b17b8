"""SDK overhead: µs per ``@llm`` call vs a bare OpenTelemetry span with the same attributes.

    .venv/bin/python -m bench.sdk_overhead            # 20,000 calls per measurement
    .venv/bin/python -m bench.sdk_overhead --quick    # 2,000 calls
    .venv/bin/python -m bench.sdk_overhead --clients  # + client hooks vs peers, guard.check
    .venv/bin/python -m bench.sdk_overhead --instructions [--only sync] [--python OTHER/.venv/bin/python]

Three shapes of call: sync, async, and a stream of 20 chunks. Each decorated function does
what the app would do with a provider response (return an OpenAI-shaped chat completion, or
yield chat chunks), so the figure includes extraction, cost and content capture. The
responses are plain dicts, and again the ``openai`` client's own objects (pydantic models, as
``client.chat.completions.create`` returns them), which cost more to read. The
baseline is a hand-written ``tracer.start_as_current_span`` that sets the SAME final
attributes (copied from one decorated call) around the same body, on the same
TracerProvider, whose only processor exports to a no-op exporter. Like any hand-written
instrumentation of a model call, it passes the attributes known before the call (the ones
the decorated span had when it started) to ``start_as_current_span`` and writes the ones
that come from the response with one ``set_attributes`` after the body (after the last
chunk of a stream): a response's tokens cannot be known before it arrives. The calls are
split in short rounds alternating the two; each figure is the best round, which filters out
load spikes from other processes on a shared machine. Target: ratio <= 1.25.

``--instructions`` counts instructions per call instead, under valgrind (cachegrind): the
slope between runs that make 100 more decorated (or bare) calls, the same on any host at any
load. ``--python`` counts with another checkout's interpreter and SDK (this bench's code), for
an old-against-new comparison in the same minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from glassline.instrumentation import _settings, llm, stage
from glassline.instrumentation._processors import switchboard

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "How do I rotate my API keys?"}]
RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "model": MODEL,
    "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "Use X."}}],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 20},
    },
}
CHUNKS = [
    {
        "id": "c",
        "model": MODEL,
        "choices": [{"delta": {"content": f"tok{i} "}, "finish_reason": None}],
    }
    for i in range(19)
] + [
    {
        "id": "c",
        "model": MODEL,
        "choices": [{"delta": {}, "finish_reason": "stop"}],
        "usage": RESPONSE["usage"],
    }
]


def _openai_objects() -> tuple[Any, list[Any]]:
    """RESPONSE and CHUNKS as the openai client's ChatCompletion / ChatCompletionChunk."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    usage = {**RESPONSE["usage"], "total_tokens": 150}

    def shaped(body: dict[str, Any], kind: str) -> dict[str, Any]:
        choices = [{"index": 0, **choice} for choice in body["choices"]]
        out = {**body, "object": kind, "created": 1, "choices": choices}
        return {**out, "usage": usage} if "usage" in body else out

    response = ChatCompletion.model_validate(shaped(RESPONSE, "chat.completion"))
    chunk_type = ChatCompletionChunk
    chunks = [chunk_type.model_validate(shaped(c, "chat.completion.chunk")) for c in CHUNKS]
    return response, chunks


OPENAI_RESPONSE, OPENAI_CHUNKS = _openai_objects()


class _Keep(SpanExporter):
    """Keeps the last span (to copy its attributes); otherwise a no-op."""

    last: ReadableSpan | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.last = spans[-1]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class _Started(SpanProcessor):
    """Keeps the attributes the last span had when it started (added only for a probe call)."""

    attributes: dict[str, Any] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.attributes = dict(span.attributes or {})


def _setup() -> _Keep:
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    board = switchboard(provider)  # as init() wires it: Glassline's processors in a switchboard
    assert board is not None
    keep = _Keep()
    board.add(SimpleSpanProcessor(keep))
    return keep


@llm(provider="openai")
def ours_sync(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


@llm(provider="openai")
async def ours_async(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


@llm(provider="openai")
def ours_stream(*, model: str, messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    yield from CHUNKS


@llm(provider="openai")
def ours_sync_openai(*, model: str, messages: list[dict[str, str]]) -> Any:
    return OPENAI_RESPONSE


@llm(provider="openai")
def ours_stream_openai(*, model: str, messages: list[dict[str, str]]) -> Iterator[Any]:
    yield from OPENAI_CHUNKS


@stage("retrieve")
def ours_stage(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return RESPONSE


def _bare(
    name: str, kind: SpanKind, start: dict[str, Any], after: dict[str, Any], body: Any
) -> tuple[Callable[..., Any], ...]:
    """Bare spans around ``body`` (the decorated function's own, undecorated): ``start``
    attributes when the span starts, ``after`` once the body is done."""
    tracer = trace.get_tracer("bench.bare")

    def bare_sync(*, model: str, messages: list[dict[str, str]]) -> Any:
        with tracer.start_as_current_span(name, kind=kind, attributes=start) as span:
            response = body(model=model, messages=messages)
            if after:
                span.set_attributes(after)
            return response

    async def bare_async(*, model: str, messages: list[dict[str, str]]) -> Any:
        with tracer.start_as_current_span(name, kind=kind, attributes=start) as span:
            response = await body(model=model, messages=messages)
            if after:
                span.set_attributes(after)
            return response

    def bare_stream(*, model: str, messages: list[dict[str, str]]) -> Iterator[Any]:
        with tracer.start_as_current_span(name, kind=kind, attributes=start) as span:
            yield from body(model=model, messages=messages)
            if after:
                span.set_attributes(after)

    return bare_sync, bare_async, bare_stream


def _last_span(keep: _Keep, call: Callable[[], Any]) -> tuple[ReadableSpan, dict[str, Any]]:
    """The span of one call, and its attributes when it started (the probe is then removed)."""
    board, started = switchboard(), _Started()
    assert board is not None
    board.add(started)
    try:
        call()
    finally:
        board.remove(started)
    assert keep.last is not None
    return keep.last, started.attributes


def _time(fn: Callable[..., Any], n: int, shape: str) -> float:
    if shape == "async":
        return _time_async(fn, n)
    start = time.perf_counter()
    for _ in range(n):
        result = fn(model=MODEL, messages=MESSAGES)
        if shape == "stream":
            for _chunk in result:
                pass
    return (time.perf_counter() - start) / n * 1e6


def _time_async(fn: Callable[..., Any], n: int) -> float:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await fn(model=MODEL, messages=MESSAGES)
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(run())


def _one_call(fn: Callable[..., Any], shape: str) -> Callable[[], Any]:
    if shape == "async":
        return lambda: asyncio.run(fn(model=MODEL, messages=MESSAGES))
    if shape == "stream":
        return lambda: list(fn(model=MODEL, messages=MESSAGES))
    return lambda: fn(model=MODEL, messages=MESSAGES)


ROWS: list[tuple[str, Callable[..., Any], str, bool]] = [
    # label, decorated function, shape, capture_content
    ("@stage (lifecycle only)", ours_stage, "sync", True),
    ("@llm sync", ours_sync, "sync", True),
    ("@llm sync, no content", ours_sync, "sync", False),
    ("@llm async", ours_async, "async", True),
    ("@llm stream, 20 chunks", ours_stream, "stream", True),
    ("@llm sync, openai object", ours_sync_openai, "sync", True),
    ("@llm stream, 20 openai", ours_stream_openai, "stream", True),
]


def _pair(
    keep: _Keep, row: tuple[str, Callable[..., Any], str, bool]
) -> tuple[Callable[..., Any], int]:
    """The row's bare-span twin (same attributes, same body) and the span's attribute count."""
    _label, ours, shape, capture = row
    _settings.replace(_settings.Settings(capture_content=capture))
    span, start = _last_span(keep, _one_call(ours, shape))
    attributes = dict(span.attributes or {})
    after = {k: v for k, v in attributes.items() if k not in start or start[k] != v}
    assert {**start, **after} == attributes
    bares = _bare(span.name, span.kind, start, after, inspect.unwrap(ours))
    return dict(zip(("sync", "async", "stream"), bares, strict=True))[shape], len(attributes)


def _measure(
    keep: _Keep, row: tuple[str, Callable[..., Any], str, bool], n: int, rounds: int
) -> tuple[float, float, int]:
    _label, ours, shape, _capture = row
    bare, count = _pair(keep, row)
    bare_times, our_times = [], []
    per_round = max(1, n // rounds)
    for _ in range(rounds):  # alternate short rounds; the minimum filters out load spikes
        bare_times.append(_time(bare, per_round, shape))
        our_times.append(_time(ours, per_round, shape))
    return min(bare_times), min(our_times), count


_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_EXTRA = 100


def _count_calls(row: int, ours: int, bare: int) -> None:
    """The worker of ``--instructions``: set up as a measurement does, then make the calls."""
    keep = _setup()
    _label, decorated, shape, _capture = ROWS[row]
    bare_fn, _count = _pair(keep, ROWS[row])
    _time(decorated, ours, shape)
    _time(bare_fn, bare, shape)


def _refs(python: str, row: int, ours: int, bare: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               python, "-m", "bench.sdk_overhead", "--count", str(row), str(ours), str(bare)]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    found = _REFS.search(done.stderr)
    if done.returncode or found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def instructions(python: str, only: str) -> None:
    """Instructions per decorated and per bare call of each row (labels containing ``only``)."""
    print(f"instructions per call (valgrind; slope of {_EXTRA} calls), {python}")
    print(f"{'call':<26}{'bare span':>12}{'decorated':>12}{'added':>10}")
    for index, (label, *_rest) in enumerate(ROWS):
        if only not in label:
            continue
        base = _refs(python, index, 10, 10)
        ours = (_refs(python, index, 10 + _EXTRA, 10) - base) / _EXTRA
        bare = (_refs(python, index, 10, 10 + _EXTRA) - base) / _EXTRA
        print(f"{label:<26}{bare:>12,.0f}{ours:>12,.0f}{ours - bare:>+10,.0f}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per measurement")
    parser.add_argument("--quick", action="store_true", help="2,000 calls per measurement")
    parser.add_argument("--rounds", type=int, default=40, help="rounds the calls are split in")
    parser.add_argument(
        "--clients", action="store_true",
        help="also the openai client hooks against OpenLLMetry, OpenInference and none, and "
        "budget_guard().check (bench.sdk_clients; peers in their own uv venvs)",
    )  # fmt: skip
    parser.add_argument(
        "--instructions", action="store_true",
        help="count instructions per call under valgrind instead of timing (minutes; load-proof)",
    )  # fmt: skip
    parser.add_argument("--only", default="", help="only the rows whose label has this")
    parser.add_argument("--python", default=sys.executable, help="--instructions: interpreter")
    parser.add_argument("--count", nargs=3, type=int, help=argparse.SUPPRESS)  # the worker
    args = parser.parse_args(argv)
    if args.count:
        _count_calls(*args.count)
        return
    if args.instructions:
        instructions(args.python, args.only)
        return
    n = 2_000 if args.quick else args.calls
    keep = _setup()
    print(f"{n} calls per row in {args.rounds} alternating rounds; µs per call of the best round")
    print(f"{'call':<26}{'attrs':>6}{'bare span µs':>14}{'decorated µs':>14}{'ratio':>8}")
    for row in ROWS:
        if args.only not in row[0]:
            continue
        bare, ours, count = _measure(keep, row, n, args.rounds)
        print(f"{row[0]:<26}{count:>6}{bare:>14.1f}{ours:>14.1f}{ours / bare:>7.2f}x")
    print("target: ratio <= 1.25x")
    if args.clients:
        from bench.sdk_clients import report

        report(100 if args.quick else 300, 4 if args.quick else 12)


if __name__ == "__main__":
    main()
