"""Plain OpenTelemetry: hand-written spans in the current GenAI conventions, OTLP/gRPC."""

from __future__ import annotations

import json
from typing import Any

from _driver import GRPC, KEY, MODEL, QUESTIONS, openai_calls, report
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# The lines a user changes: the exporter's endpoint and its key header.
exporter = OTLPSpanExporter(endpoint=GRPC, insecure=True, headers={"x-glassline-api-key": KEY})
provider = TracerProvider(resource=Resource.create({"service.name": "peer-otel"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("peer-app")


def parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def chat(kind: str, call: Any) -> Any:
    with tracer.start_as_current_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": MODEL,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": parts(QUESTIONS[kind])}]
                ),
            }
        )
        result = call()
        if kind == "stream":
            text, u = result
            span.set_attribute("gen_ai.request.stream", True)
        else:
            text, u = result.choices[0].message.content, result.usage
        usage = {
            "in": u.prompt_tokens,
            "out": u.completion_tokens,
            "cached": u.prompt_tokens_details.cached_tokens,
            "reasoning": u.completion_tokens_details.reasoning_tokens,
        }
        span.set_attributes(
            {
                "gen_ai.response.model": MODEL,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.usage.input_tokens": usage["in"],
                "gen_ai.usage.output_tokens": usage["out"],
                "gen_ai.usage.cache_read.input_tokens": usage["cached"],
                "gen_ai.usage.reasoning.output_tokens": usage["reasoning"],
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": parts(text), "finish_reason": "stop"}]
                ),
            }
        )
        return result


with (
    tracer.start_as_current_span("peer-app"),
    tracer.start_as_current_span(
        "invoke_agent support",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    ),
):
    openai_calls(chat)
provider.shutdown()
report("opentelemetry-sdk", transport="grpc")
