"""The logs endpoints of both receivers: HTTP /v1/logs (protobuf, JSON, gzip) and gRPC
LogsService, with the traces' auth, admission and answers; stock OTel log exporters."""

from __future__ import annotations

import gzip
import json
import threading
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from glassline.collector.config import ServerConfig

PB = {"content-type": "application/x-protobuf"}
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def mixed_request(lh: Any) -> Any:
    return lh.logs_request(
        lh.log_record("gen_ai.user.message", {"content": "Hi"}),
        lh.log_record(None, "plain application log line"),
    )


def events_of(stack: Any) -> list[Any]:
    return [e for _, decoded in stack.logs_sink.batches for e in decoded.events]


def test_http_protobuf_answers_a_partial_success_for_what_is_not_a_genai_event(
    receivers: Any, h: Any, lh: Any
) -> None:
    reply = httpx.post(
        f"{receivers.http_url}/v1/logs", content=mixed_request(lh).SerializeToString(),
        headers={**PB, "x-glassline-api-key": h.API_KEY},
    )  # fmt: skip
    assert reply.status_code == 200
    answer = ExportLogsServiceResponse.FromString(reply.content)
    assert answer.partial_success.rejected_log_records == 1
    assert "not a GenAI event" in answer.partial_success.error_message
    [(principal, _)] = receivers.logs_sink.batches
    assert principal.tenant == "acme"
    assert [e.name for e in events_of(receivers)] == ["gen_ai.user.message"]


def test_http_gzip_json_is_accepted(receivers: Any, h: Any, lh: Any) -> None:
    doc = MessageToDict(mixed_request(lh))
    for record in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        record["traceId"], record["spanId"] = lh.TRACE, lh.SPAN
    reply = httpx.post(
        f"{receivers.http_url}/v1/logs", content=gzip.compress(json.dumps(doc).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip",
                 "authorization": f"Bearer {h.OTHER_KEY}"},
    )  # fmt: skip
    assert reply.status_code == 200
    assert reply.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    [(principal, decoded)] = receivers.logs_sink.batches
    assert principal.tenant == "globex"
    assert [(e.trace_id, e.span_id) for e in decoded.events] == [(lh.TRACE, lh.SPAN)]


def test_grpc_logs_service_answers_a_partial_success(receivers: Any, h: Any, lh: Any) -> None:
    with grpc.insecure_channel(receivers.grpc_endpoint) as channel:
        export = channel.unary_unary(LOGS_EXPORT)
        raw = export(mixed_request(lh).SerializeToString(),
                     metadata=(("x-glassline-api-key", h.API_KEY),), timeout=10)  # fmt: skip
    answer = ExportLogsServiceResponse.FromString(raw)
    assert answer.partial_success.rejected_log_records == 1
    assert [e.name for e in events_of(receivers)] == ["gen_ai.user.message"]


def test_logs_without_a_known_key_are_refused_on_both_transports(receivers: Any, lh: Any) -> None:
    body = mixed_request(lh).SerializeToString()
    reply = httpx.post(f"{receivers.http_url}/v1/logs", content=body,
                       headers={**PB, "x-glassline-api-key": "wrong-key-123"})  # fmt: skip
    assert reply.status_code == 401
    with (
        grpc.insecure_channel(receivers.grpc_endpoint) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        channel.unary_unary(LOGS_EXPORT)(body, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert receivers.logs_sink.batches == []


def test_a_log_export_waits_in_the_same_admission_as_traces(h: Any, lh: Any) -> None:
    """One in-flight request allowed: a held logs export makes a traces export wait (429)."""
    server = ServerConfig(grpc_port=0, http_port=0, max_inflight_requests=1, retry_after_s=2)
    with h.start_receivers(server) as stack:
        stack.logs_sink.gate = threading.Event()
        replies: dict[str, httpx.Response] = {}

        def held() -> None:
            replies["logs"] = httpx.post(
                f"{stack.http_url}/v1/logs", content=mixed_request(lh).SerializeToString(),
                headers={**PB, "x-glassline-api-key": h.API_KEY}, timeout=30,
            )  # fmt: skip

        thread = threading.Thread(target=held)
        thread.start()
        assert stack.logs_sink.entered.wait(10)
        traces = httpx.post(
            f"{stack.http_url}/v1/traces",
            content=h.make_request(h.make_span(1)).SerializeToString(),
            headers={**PB, "x-glassline-api-key": h.API_KEY}, timeout=10,
        )  # fmt: skip
        assert traces.status_code == 429 and traces.headers["retry-after"] == "2"
        with (
            grpc.insecure_channel(stack.grpc_endpoint) as channel,
            pytest.raises(grpc.RpcError) as caught,
        ):
            channel.unary_unary(LOGS_EXPORT)(
                mixed_request(lh).SerializeToString(),
                metadata=(("x-glassline-api-key", h.API_KEY),), timeout=10,
            )  # fmt: skip
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        stack.logs_sink.gate.set()
        thread.join(10)
        assert replies["logs"].status_code == 200


def test_a_failed_store_is_retryable_for_logs_too(receivers: Any, h: Any, lh: Any) -> None:
    receivers.logs_sink.fail_next = 1
    reply = httpx.post(
        f"{receivers.http_url}/v1/logs", content=mixed_request(lh).SerializeToString(),
        headers={**PB, "x-glassline-api-key": h.API_KEY},
    )  # fmt: skip
    assert reply.status_code == 503 and "retry-after" in reply.headers


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_stock_otel_log_exporters_deliver_genai_events(
    receivers: Any, h: Any, transport: str
) -> None:
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider

    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=receivers.grpc_endpoint, insecure=True,
                                   headers=(("x-glassline-api-key", h.API_KEY),))  # fmt: skip
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=f"{receivers.http_url}/v1/logs",
                                   headers={"x-glassline-api-key": h.API_KEY})  # fmt: skip
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("app")
    with TracerProvider().get_tracer("app").start_as_current_span("chat") as span:
        logger.emit(LogRecord(event_name="gen_ai.user.message", body={"content": "Hi"}))
    provider.shutdown()
    [event] = events_of(receivers)
    assert event.trace_id == format(span.get_span_context().trace_id, "032x")
    assert event.span_id == format(span.get_span_context().span_id, "016x")
