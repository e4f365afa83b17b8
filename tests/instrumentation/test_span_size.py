"""A span's size in an export request, estimated without encoding it: never under the encoded
size (batches cut by it stay under a collector's limit), and not far over it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode, Tracer

from glassline.instrumentation._span_size import approximate_bytes


def _finished(build: Callable[[Tracer], None]) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("t"))
    return exporter.get_finished_spans()[-1]  # the span built last


def _encoded_bytes(span: ReadableSpan) -> int:
    return encode_spans([span]).resource_spans[0].scope_spans[0].spans[0].ByteSize()


def _llm_call(tracer: Tracer) -> None:
    with tracer.start_as_current_span("chat gpt-4o", attributes={
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "'
        + "How do I rotate my keys? " * 600 + '"}]}]',
        "gen_ai.usage.input_tokens": 4000, "gen_ai.usage.output_tokens": 120,
        "glassline.cost.usd": 0.0123, "gen_ai.response.finish_reasons": ("stop",),
    }):  # fmt: skip
        pass


def _non_ascii(tracer: Tracer) -> None:
    with tracer.start_as_current_span("検索 🔍", attributes={"text": "東京の天気は晴れ😀" * 2000}):
        pass


def _many_numbers(tracer: Tracer) -> None:
    attributes = {f"metric.{i}": i * 1.5 if i % 2 else i for i in range(100)}
    attributes["flags"] = (True, False, True)
    with tracer.start_as_current_span("numbers", attributes=attributes):
        pass


def _failed_with_events_and_links(tracer: Tracer) -> None:
    parent = tracer.start_span("other")
    parent.end()
    with tracer.start_as_current_span(
        "tool", links=[Link(parent.get_span_context(), {"why": "retry of"})] * 3
    ) as span:
        span.add_event("glassline.route", {"chosen": "gpt-4o", "candidates": ("a", "b")})
        try:
            raise ValueError("upstream said: " + "x" * 5000)
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))


def _bare(tracer: Tracer) -> None:
    with tracer.start_as_current_span("step"):
        pass


@pytest.mark.parametrize(
    "build", [_llm_call, _non_ascii, _many_numbers, _failed_with_events_and_links, _bare]
)
def test_the_estimate_is_at_least_the_encoded_size_and_within_half_again(
    build: Callable[[Tracer], None],
) -> None:
    span = _finished(build)
    encoded = _encoded_bytes(span)
    assert encoded <= approximate_bytes(span) <= 1.5 * encoded + 100
