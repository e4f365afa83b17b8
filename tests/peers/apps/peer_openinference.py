"""OpenInference's openai instrumentation (Arize Phoenix's), exporting OTLP/gRPC."""

from __future__ import annotations

from _driver import GRPC, KEY, openai_calls, report
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "peer-openinference"}))
# The lines a user changes: the exporter's endpoint and its key header.
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=GRPC, insecure=True, headers={"x-glassline-api-key": KEY})
    )
)
OpenAIInstrumentor().instrument(tracer_provider=provider)
tracer = provider.get_tracer("peer-app")


def in_chain(kind: str, call):  # an OpenInference CHAIN span names the stage
    with tracer.start_as_current_span("answer", attributes={"openinference.span.kind": "CHAIN"}):
        return call()


with tracer.start_as_current_span("peer-app"):
    openai_calls(in_chain)
provider.shutdown()
report("openinference-instrumentation-openai", transport="grpc")
