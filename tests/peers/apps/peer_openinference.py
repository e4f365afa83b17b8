"""OpenInference (Arize Phoenix's) instrumentations, exporting OTLP/gRPC.

``python peer_openinference.py`` instruments the openai client, ``... anthropic`` the anthropic
client, ``... langchain`` LangChain (langchain-openai's ChatOpenAI in a runnable chain).
"""

from __future__ import annotations

import sys

from _driver import GRPC, KEY, anthropic_calls, openai_calls, report
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

target = sys.argv[1] if sys.argv[1:] else "openai"
provider = TracerProvider(
    resource=Resource.create({"service.name": f"peer-openinference-{target}"})
)
# The lines a user changes: the exporter's endpoint and its key header.
provider.add_span_processor(
    BatchSpanProcessor(
        OTLPSpanExporter(endpoint=GRPC, insecure=True, headers={"x-glassline-api-key": KEY})
    )
)
tracer = provider.get_tracer("peer-app")


def in_chain(kind: str, call):  # an OpenInference CHAIN span names the stage
    with tracer.start_as_current_span("answer", attributes={"openinference.span.kind": "CHAIN"}):
        return call()


if target == "anthropic":
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument(tracer_provider=provider)
    with tracer.start_as_current_span("peer-app"):
        anthropic_calls(in_chain)
    distribution = "openinference-instrumentation-anthropic"
elif target == "langchain":
    from _langchain import langchain_calls
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument(tracer_provider=provider)
    with tracer.start_as_current_span("peer-app"):
        langchain_calls()  # the chain's run_name, "answer", is its CHAIN span's name
    distribution = "openinference-instrumentation-langchain"
else:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)
    with tracer.start_as_current_span("peer-app"):
        openai_calls(in_chain)
    distribution = "openinference-instrumentation-openai"
provider.shutdown()
report(distribution, transport="grpc")
