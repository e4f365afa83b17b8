"""An app instrumented with the official ``opentelemetry-instrumentation-openai-v2``, as its users
run it: the real ``openai`` client, content captured as log events (the library's default
mode), spans and logs exported over OTLP by the stock exporters.

``python openai_v2_app.py PROTOCOL ENDPOINT API_KEY BASE_URL ORDER`` makes one chat call and
exits; ORDER ``logs-first`` flushes the log events before the span, ``spans-first`` after it.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")

from openai import OpenAI
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

QUESTION = "My name is Alice Johnson, write to alice.johnson@example.com about invoice 7"


def exporters(protocol: str, endpoint: str, key: str) -> tuple[object, object]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        headers = (("x-glassline-api-key", key),)
        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers),
            OTLPLogExporter(endpoint=endpoint, insecure=True, headers=headers),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = {"Authorization": f"Bearer {key}"}
    return (
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers),
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers),
    )


def main() -> None:
    protocol, endpoint, key, base_url, order = sys.argv[1:6]
    span_exporter, log_exporter = exporters(protocol, endpoint, key)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    trace.set_tracer_provider(tracer_provider)
    _logs.set_logger_provider(logger_provider)
    OpenAIInstrumentor().instrument()

    client = OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You answer billing questions."},
            {"role": "user", "content": QUESTION},
        ],
    )
    print(answer.choices[0].message.content)
    first, second = (
        (logger_provider, tracer_provider)
        if order == "logs-first"
        else (tracer_provider, logger_provider)
    )
    first.shutdown()
    second.shutdown()


if __name__ == "__main__":
    main()
