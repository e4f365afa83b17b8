"""The official opentelemetry-instrumentation-openai-v2, content as GenAI log events (OTLP/HTTP)."""

from __future__ import annotations

import os

# Content as GenAI log events (not on the span): what the logs receiver is for.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY")

from _driver import HTTP, KEY, openai_calls, report
from opentelemetry import _logs, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

resource = Resource.create({"service.name": "peer-openai-v2"})
headers = {"authorization": f"Bearer {KEY}"}
# The lines a user changes: both exporters' endpoints and their key header.
provider = TracerProvider(resource=resource)
provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{HTTP}/v1/traces", headers=headers))
)
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(
    BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{HTTP}/v1/logs", headers=headers))
)
trace.set_tracer_provider(provider)
_logs.set_logger_provider(logs)
OpenAIInstrumentor().instrument()

with provider.get_tracer("peer-app").start_as_current_span("peer-app"):
    openai_calls()
provider.shutdown()
logs.shutdown()
report("opentelemetry-instrumentation-openai-v2", transport="http")
