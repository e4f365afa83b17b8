"""Anthropic calls traced by the anthropic client itself (anthropic >= 2), exporting OTLP/HTTP.

``python peer_anthropic.py openllmetry`` traces them with OpenLLMetry's standalone
opentelemetry-instrumentation-anthropic instead (no traceloop-sdk), the client's own tracing off.
"""

from __future__ import annotations

import sys

from _driver import HTTP, KEY, anthropic_calls, report
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

openllmetry = sys.argv[1:] == ["openllmetry"]
provider = TracerProvider(resource=Resource.create({"service.name": "peer-anthropic"}))
# The lines a user changes: the exporter's endpoint and its key header.
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{HTTP}/v1/traces", headers={"authorization": f"Bearer {KEY}"})
    )
)
trace.set_tracer_provider(provider)  # the client traces through the global provider
tracer = provider.get_tracer("peer-app")
if openllmetry:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument()


def in_stage(kind: str, call):
    with tracer.start_as_current_span("generate", attributes={"glassline.stage": "generate"}):
        return call()


with tracer.start_as_current_span("peer-app"):
    anthropic_calls(in_stage)
provider.shutdown()
report("opentelemetry-instrumentation-anthropic" if openllmetry else "anthropic", transport="http")
