"""SDK overhead: µs per ``@llm`` call vs a bare OpenTelemetry span with the same attributes.

    .venv/bin/python -m bench.sdk_overhead            # 20,000 calls per measurement
    .venv/bin/python -m bench.sdk_overhead --quick    # 2,000 calls

Three shapes of call: sync, async, and a stream of 20 chunks. Each decorated function does
what the app would do with a provider response (return an OpenAI-shaped chat completion, or
yield chat chunks), so the figure includes extraction, cost and content capture. The
baseline is a hand-written ``tracer.start_as_current_span`` that sets the SAME final
attributes (copied from one decorated call) around the same body, on the same
TracerProvider, whose only processor exports to a no-op exporter. Best of 5 rounds,
alternating the two, so machine noise hits both. Target: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from glassline.instrumentation import llm
from glassline.instrumentation._processors import switchboard

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "How do I rotate my API keys?"}]
RESPONSE = {
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


class _Keep(SpanExporter):
    """Keeps the last span (to copy its attributes); otherwise a no-op."""

    last: ReadableSpan | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.last = spans[-1]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _setup() -> _Keep:
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    board = switchboard(provider)  # as init() wires it: Glassline's processors in a switchboard
    assert board is not None
    keep = _Keep()
    board.add(SimpleSpanProcessor(keep))
    return keep


def _body() -> dict[str, Any]:
    return RESPONSE


def _chunks() -> Iterator[dict[str, Any]]:
    yield from CHUNKS


@llm(provider="openai")
def ours_sync(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return _body()


@llm(provider="openai")
async def ours_async(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    return _body()


@llm(provider="openai")
def ours_stream(*, model: str, messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    yield from _chunks()


def _bare(name: str, attributes: dict[str, Any]) -> tuple[Callable[..., Any], ...]:
    tracer = trace.get_tracer("bench.bare")

    def bare_sync(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            return _body()

    async def bare_async(*, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            return _body()

    def bare_stream(*, model: str, messages: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            yield from _chunks()

    return bare_sync, bare_async, bare_stream


def _attributes_of(keep: _Keep, call: Callable[[], Any]) -> dict[str, Any]:
    call()
    assert keep.last is not None
    return dict(keep.last.attributes or {})


def _time_sync(fn: Callable[..., Any], n: int, stream: bool) -> float:
    start = time.perf_counter()
    for _ in range(n):
        result = fn(model=MODEL, messages=MESSAGES)
        if stream:
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


def _best(measure: Callable[[], float], rounds: int) -> float:
    return min(measure() for _ in range(rounds))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per measurement")
    parser.add_argument("--quick", action="store_true", help="2,000 calls per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else args.calls
    keep = _setup()
    sync_attrs = _attributes_of(keep, lambda: ours_sync(model=MODEL, messages=MESSAGES))
    stream_attrs = _attributes_of(keep, lambda: list(ours_stream(model=MODEL, messages=MESSAGES)))
    bare_sync, bare_async, _ = _bare(f"chat {MODEL}", sync_attrs)
    _, _, bare_stream = _bare(f"chat {MODEL}", stream_attrs)
    rows = [
        ("sync", lambda: _time_sync(bare_sync, n, False), lambda: _time_sync(ours_sync, n, False)),
        ("async", lambda: _time_async(bare_async, n), lambda: _time_async(ours_async, n)),
        (
            "stream (20 chunks)",
            lambda: _time_sync(bare_stream, n, True),
            lambda: _time_sync(ours_stream, n, True),
        ),
    ]
    print(
        f"{n} calls per measurement, best of {args.rounds} rounds; {len(sync_attrs)} attributes per span"
    )
    print(f"{'call':<20}{'bare span µs':>14}{'@llm µs':>10}{'ratio':>8}")
    for label, bare, ours in rows:
        results: dict[str, list[float]] = {"bare": [], "ours": []}
        for _ in range(args.rounds):  # alternate, so drift in machine load hits both
            results["bare"].append(bare())
            results["ours"].append(ours())
        b, o = min(results["bare"]), min(results["ours"])
        print(f"{label:<20}{b:>14.1f}{o:>10.1f}{o / b:>7.2f}x")
    print("target: ratio <= 1.25x")


if __name__ == "__main__":
    main()
