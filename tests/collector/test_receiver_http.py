"""receivers/http.py: POST /v1/traces in protobuf and JSON, gzip, clear 4xx/5xx answers."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from glassline.collector.config import ServerConfig
from glassline.collector.objects import MAX_OBJECTS
from glassline.collector.testing import run_collector

PB = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def export_with_stock_exporter(
    url: str, headers: dict, compression: Compression, n: int = 3
) -> list[str]:
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers=headers, compression=compression, timeout=20
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    names = [f"stage-{i}" for i in range(n)]
    for name in names:
        with provider.get_tracer("test").start_as_current_span(name):
            pass
    provider.shutdown()
    return names


def test_the_stock_exporter_delivers_to_a_path_with_a_trailing_slash_and_with_deflate(
    tmp_path: Path,
) -> None:
    # The exporter counts any 2xx-3xx as delivered and follows no redirect: "/v1/traces/" was
    # a 307, so it reported SUCCESS and nothing was stored. Its Compression.Deflate was a 415.
    cases = [
        ("/v1/traces/", Compression.NoCompression),
        ("/api/public/otel/v1/traces/", Compression.Gzip),
        ("/v1/traces", Compression.Deflate),
    ]
    provider = TracerProvider()
    with run_collector(workdir=tmp_path) as collector, httpx.Client(timeout=30) as client:
        for path, compression in cases:
            exporter = OTLPSpanExporter(
                endpoint=collector.http_endpoint + path, headers=collector.headers(),
                compression=compression, timeout=20,
            )  # fmt: skip
            span = provider.get_tracer("test").start_span(f"{path} {compression.name}")
            span.end()
            result = exporter.export([span])
            trace_id = format(span.get_span_context().trace_id, "032x")
            stored = client.get(
                f"{collector.http_endpoint}/api/v1/traces/{trace_id}", headers=collector.headers()
            )
            assert (result, stored.status_code) == (SpanExportResult.SUCCESS, 200), (path, stored)
        # No POST is redirected, export path or not: an exporter would take it for success.
        for path in ("/api/v1/evaluations/", "/api/v1/kill-switches/", "/v1/metrics"):
            answer = client.post(collector.http_endpoint + path, headers=collector.headers())
            assert answer.status_code == 404, (path, answer.status_code)


def post(receivers: Any, body: bytes, headers: dict, key: str | None = None) -> httpx.Response:
    if key:
        headers = {**headers, "authorization": f"Bearer {key}"}
    return httpx.post(f"{receivers.http_url}/v1/traces", content=body, headers=headers, timeout=10)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_stock_http_exporter_delivers_spans(
    receivers: Any, h: Any, compression: Compression
) -> None:
    names = export_with_stock_exporter(
        receivers.http_url, {"x-glassline-api-key": h.API_KEY}, compression
    )
    assert sorted(r.name for r in receivers.sink.records) == sorted(names)
    assert {p.tenant for p, _ in receivers.sink.batches} == {"acme"}


def test_stock_http_exporter_retries_a_503(receivers: Any, h: Any) -> None:
    receivers.sink.fail_next = 1
    names = export_with_stock_exporter(
        receivers.http_url, {"x-glassline-api-key": h.API_KEY}, Compression.NoCompression, n=1
    )
    assert receivers.sink.fail_next == 0
    assert [r.name for r in receivers.sink.records] == names


def test_503_answer_has_retry_after_and_a_status_message(receivers: Any, h: Any) -> None:
    receivers.sink.fail_next = 1
    reply = post(receivers, h.make_request(h.make_span(1)).SerializeToString(), PB, h.API_KEY)
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "1"
    assert "storage is unavailable" in Status.FromString(reply.content).message


def test_json_request_gets_a_json_reply_with_partial_success(receivers: Any, h: Any) -> None:
    request = h.make_request(h.make_span(1), h.make_span(2))
    doc = MessageToDict(request)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0].update(traceId="01" * 16, spanId="02" * 8)
    spans[1].update(traceId="not-hex", spanId="03" * 8)
    reply = post(receivers, json.dumps(doc).encode(), JSON, h.API_KEY)
    assert reply.status_code == 200
    assert reply.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid_trace_id" in reply.json()["partialSuccess"]["errorMessage"]
    assert [r.trace_id for r in receivers.sink.records] == ["01" * 16]


def test_a_json_item_that_is_no_object_is_rejected_naming_it(tmp_path: Path, h: Any) -> None:
    # [1] and [null] were read as empty objects: 200 {} with nothing said, like a delivery.
    good = MessageToDict(h.make_request(h.make_span(7)))["resourceSpans"][0]
    now = time.time_ns()
    good["scopeSpans"][0]["spans"][0].update(
        traceId="07" * 16, spanId="08" * 8, startTimeUnixNano=str(now - 10**9),
        endTimeUnixNano=str(now),
    )  # fmt: skip
    with run_collector(workdir=tmp_path) as collector, httpx.Client(timeout=30) as client:
        headers = {**JSON, **collector.headers()}
        url = f"{collector.http_endpoint}/v1/traces"
        alone = [
            client.post(url, json={"resourceSpans": items}, headers=headers)
            for items in ([1], [None], [{"scopeSpans": ["x"]}])
        ]
        beside = client.post(url, json={"resourceSpans": [1, good]}, headers=headers)
        stored = client.get(
            f"{collector.http_endpoint}/api/v1/traces/{'07' * 16}", headers=collector.headers()
        )
    assert [(r.status_code, r.json()["message"]) for r in alone] == [
        (400, "resourceSpans[0] must be an object, got 1"),
        (400, "resourceSpans[0] must be an object, got null"),
        (400, 'resourceSpans[0].scopeSpans[0] must be an object, got "x"'),
    ]
    # Beside a good span: the span is stored and the answer names the bad item (0 spans).
    assert beside.status_code == 200, beside.text
    assert beside.json()["partialSuccess"] == {
        "errorMessage": "rejected 0 span(s) (malformed_resource_spans); "
        "first: resourceSpans[0] must be an object, got 1"
    }
    assert stored.status_code == 200, stored.text


def test_protobuf_reply_is_an_export_response(receivers: Any, h: Any) -> None:
    reply = post(receivers, h.make_request(h.make_span(1)).SerializeToString(), PB, h.API_KEY)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(reply.content).HasField("partial_success")


@pytest.mark.parametrize(
    "content_type",
    ["Application/JSON", "application/json; charset=UTF-8", "APPLICATION/X-PROTOBUF"],
)
def test_a_media_type_in_any_case_and_with_parameters_is_accepted(
    receivers: Any, h: Any, content_type: str
) -> None:
    body = h.make_request(h.make_span(1)).SerializeToString()
    if "json" in content_type.lower():
        span = {"traceId": "01" * 16, "spanId": "01" * 8, "name": "n",
                "startTimeUnixNano": "1", "endTimeUnixNano": "2"}  # fmt: skip
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    reply = post(receivers, body, {"content-type": content_type}, h.API_KEY)
    assert reply.status_code == 200, reply.text
    assert [len(records) for _, records in receivers.sink.batches] == [1]


def test_gzip_json_is_accepted(receivers: Any, h: Any) -> None:
    body = gzip.compress(json.dumps({"resourceSpans": []}).encode())
    reply = post(receivers, body, {**JSON, "content-encoding": "gzip"}, h.API_KEY)
    assert reply.status_code == 200 and reply.json() == {}


LONE_SURROGATE = (
    b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",'
    b'"spanId":"0102030405060708","name":"n","startTimeUnixNano":"1","endTimeUnixNano":"2",'
    b'"attributes":[{"key":"d","value":{"doubleValue":"\\ud800"}}]}]}]}]}'
)


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"x", {"content-type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"x", {**PB, "content-encoding": "br"}, 415, "unsupported Content-Encoding"),
        (b"\xff\xff\xff", PB, 400, "malformed protobuf"),
        (b"{nope", JSON, 400, "malformed JSON"),
        (b"not gzip", {**JSON, "content-encoding": "gzip"}, 400, "not valid gzip"),
        (
            gzip.compress(b"{}") + b"garbage",
            {**JSON, "content-encoding": "gzip"},
            400,
            "trailing data after the gzip",
        ),
        (gzip.compress(b"{}")[:-3], {**JSON, "content-encoding": "gzip"}, 400, "truncated gzip"),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400, "nested too deeply"),
        (b'{"resourceSpans": [\xed\xa0\x80]}', JSON, 400, "not valid UTF-8"),
        # The double value's parse error quotes it: once answered 503 (the message would not
        # encode), so the exporter retried a request that can never succeed.
        (LONE_SURROGATE, JSON, 400, "lone UTF-16 surrogate"),
    ],
)
def test_bad_requests_get_a_clear_status(
    receivers: Any, h: Any, body: bytes, headers: dict, status: int, message: str
) -> None:
    reply = post(receivers, body, headers, h.API_KEY)
    assert reply.status_code == status
    text = (
        reply.json()["message"]
        if "json" in reply.headers["content-type"]
        else Status.FromString(reply.content).message
    )
    assert message in text
    assert receivers.sink.records == []


def test_missing_and_unknown_keys_are_401(receivers: Any, h: Any) -> None:
    body = json.dumps({"resourceSpans": []}).encode()
    missing = post(receivers, body, JSON)
    assert missing.status_code == 401
    assert "missing API key" in missing.json()["message"]
    unknown = post(receivers, body, {**JSON, "x-glassline-api-key": "guess-1234567"})
    assert unknown.status_code == 401
    assert "guess-1234567" not in unknown.text


def test_body_over_the_limit_is_413_even_when_gzipped(h: Any) -> None:
    server = ServerConfig(grpc_port=0, http_port=0, max_message_bytes=4096)
    with h.start_receivers(server) as stack:
        plain = post(stack, b"{" + b" " * 5000 + b"}", JSON, h.API_KEY)
        assert plain.status_code == 413
        assert "exceeds the limit of 4096 bytes" in plain.json()["message"]
        bomb = gzip.compress(b"{" + b" " * 1_000_000 + b"}")
        assert len(bomb) < 4096
        inflated = post(stack, bomb, {**JSON, "content-encoding": "gzip"}, h.API_KEY)
        assert inflated.status_code == 413
        assert "decompressed body exceeds" in inflated.json()["message"]


def test_too_many_spans_is_413(h: Any) -> None:
    server = ServerConfig(grpc_port=0, http_port=0)
    with h.start_receivers(server, max_spans=2) as stack:
        request = h.make_request(h.make_span(1), h.make_span(2), h.make_span(3))
        reply = post(stack, request.SerializeToString(), PB, h.API_KEY)
        assert reply.status_code == 413
        assert "limit is 2 per request" in Status.FromString(reply.content).message


def test_a_request_of_too_many_objects_is_413_before_it_is_parsed(receivers: Any, h: Any) -> None:
    # One span of 550,000 empty events (1.1 MB) or 550,000 {} in OTLP/JSON: each a message or
    # dict of 25-230 bytes before anything refused the request (1M events: 3.4 s, 230 MB).
    span = h.make_span(1)
    span.events.extend(Span.Event() for _ in range(MAX_OBJECTS + 50_000))
    events = h.make_request(span).SerializeToString()
    empty = b'{"resourceSpans": [' + b",".join([b"{}"] * (MAX_OBJECTS + 50_000)) + b"]}"
    for body, headers, what in (
        (events, PB, "protobuf messages"),
        (empty, JSON, "JSON array items and object members"),
    ):
        reply = post(receivers, body, headers, h.API_KEY)
        assert reply.status_code == 413, reply.content[:200]
        message = (
            reply.json()["message"] if headers is JSON else Status.FromString(reply.content).message
        )
        assert f"more than {MAX_OBJECTS} {what}" in message
    assert receivers.sink.records == []


def test_json_of_too_many_strings_is_413_and_never_parsed(receivers: Any, h: Any) -> None:
    # 6 MB of "ab" in one attribute's arrayValue: json.loads made a str of each (60 bytes) and
    # the JSON mapping a message, 7-9 s and +187 MB at 8 MB, before the span was rejected.
    # Refused now holding the body as it came and the count's window.
    import tracemalloc

    values = b",".join([b'"ab"'] * 1_200_000)
    body = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "n", "attributes": [{"key": '
        b'"k", "value": {"arrayValue": {"values": [' + values + b"]}}}]}]}]}]}"
    )
    tracemalloc.start()
    try:
        reply = post(receivers, body, JSON, h.API_KEY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reply.status_code == 413, reply.content[:200]
    assert "limits.max_objects_per_request" in reply.json()["message"]
    assert peak < 3 * len(body), (peak, len(body))
    assert receivers.sink.records == []


class _NoExports:
    kinds = ("traces", "logs")


def _asgi_post(app: Any, path: str, method: str = "POST") -> list[dict]:
    """The ASGI messages ``app`` sends for one request with a 3-byte protobuf body."""
    import asyncio

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"abc", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "http_version": "1.1",
        "scheme": "http", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/x-protobuf"), (b"content-length", b"3")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/api/public/otel/v1/traces"])
def test_an_overload_refusal_is_one_start_and_one_body_message(path: str) -> None:
    """Refusals skip Starlette: the answer is exactly the 429 a Response used to send."""
    from glassline.collector.admission import Admission
    from glassline.collector.auth import Keyring
    from glassline.collector.metrics import Metrics
    from glassline.collector.receivers.http import build_app

    metrics = Metrics()
    full = Admission(1 << 20, 0, metrics, retry_after_s=2)
    app = build_app(ServerConfig(), Keyring([], "acme"), full, _NoExports(), metrics)  # type: ignore[arg-type]

    start, body = _asgi_post(app, path)

    assert start["status"] == 429
    status = Status.FromString(body["body"])
    assert "in-flight requests limit" in status.message
    assert status.code == 8  # RESOURCE_EXHAUSTED
    assert dict(start["headers"]) == {
        b"retry-after": b"2",
        b"content-length": str(len(body["body"])).encode(),
        b"content-type": b"application/x-protobuf",
    }
    assert not body.get("more_body", False)
    assert metrics.requests.labels("http", "429")._value.get() == 1


def test_an_export_path_still_refuses_other_methods_with_405() -> None:
    from glassline.collector.admission import Admission
    from glassline.collector.auth import Keyring
    from glassline.collector.metrics import Metrics
    from glassline.collector.receivers.http import build_app

    metrics = Metrics()
    admission = Admission(1 << 20, 10, metrics)
    app = build_app(ServerConfig(), Keyring([], "acme"), admission, _NoExports(), metrics)  # type: ignore[arg-type]

    assert _asgi_post(app, "/v1/traces", method="GET")[0]["status"] == 405
