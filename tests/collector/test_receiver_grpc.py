"""receivers/grpc.py: the stock OTLP gRPC exporter works against it, retries included."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from bench.ingest import EXPORT
from bench.wire import GrpcConnection
from glassline.collector.config import ServerConfig
from glassline.collector.objects import MAX_OBJECTS
from glassline.collector.receivers.grpc import SERVICE
from glassline.collector.testing import rss_bytes, run_collector


def export_with_stock_exporter(
    endpoint: str, headers: dict[str, str], n: int = 3, compression: grpc.Compression | None = None
) -> list[str]:
    exporter = OTLPSpanExporter(
        endpoint=endpoint, insecure=True, headers=headers, timeout=20, compression=compression
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    names = [f"llm-call-{i}" for i in range(n)]
    for name in names:
        with provider.get_tracer("test").start_as_current_span(name) as span:
            span.set_attribute("gen_ai.request.model", "gpt-4o")
    provider.shutdown()
    return names


def call(endpoint: str, body: bytes | Iterator[bytes], metadata: tuple = ()) -> Any:
    """One export call; ``body`` as an iterator: its messages, as a hand-written client may
    send them (an OTLP exporter's call is unary)."""
    with grpc.insecure_channel(endpoint) as channel:
        method = channel.unary_unary if isinstance(body, bytes) else channel.stream_unary
        export = method(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        return export(body, metadata=metadata, timeout=30)


@pytest.mark.parametrize("header", ["x-glassline-api-key", "authorization"])
def test_stock_grpc_exporter_delivers_spans_for_the_keys_tenant(
    receivers: Any, h: Any, header: str
) -> None:
    value = h.API_KEY if header == "x-glassline-api-key" else f"Bearer {h.API_KEY}"
    names = export_with_stock_exporter(receivers.grpc_endpoint, {header: value})
    assert sorted(r.name for r in receivers.sink.records) == sorted(names)
    assert {p.tenant for p, _ in receivers.sink.batches} == {"acme"}


def test_missing_or_unknown_key_is_unauthenticated(receivers: Any, h: Any) -> None:
    body = h.make_request(h.make_span(1)).SerializeToString()
    with pytest.raises(grpc.RpcError) as missing:
        call(receivers.grpc_endpoint, body)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing API key" in missing.value.details()
    with pytest.raises(grpc.RpcError) as unknown:
        call(receivers.grpc_endpoint, body, (("x-glassline-api-key", "wrong-key-123"),))
    assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "wrong-key-123" not in unknown.value.details()
    assert receivers.sink.records == []


def test_partial_success_reports_rejected_spans_and_keeps_the_rest(receivers: Any, h: Any) -> None:
    request = h.make_request(h.make_span(1), h.make_span(2, trace_id=b"short"), h.make_span(3))
    reply = call(
        receivers.grpc_endpoint, request.SerializeToString(), (("x-glassline-api-key", h.API_KEY),)
    )
    assert reply.partial_success.rejected_spans == 1
    assert "invalid_trace_id" in reply.partial_success.error_message
    assert [r.name for r in receivers.sink.records] == ["span-1", "span-3"]


def test_malformed_message_is_invalid_argument(receivers: Any, h: Any) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(receivers.grpc_endpoint, b"\xff\xff\xff", (("x-glassline-api-key", h.API_KEY),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed protobuf" in caught.value.details()


def test_a_request_of_too_many_messages_is_invalid_argument_before_it_is_parsed(
    receivers: Any, h: Any
) -> None:
    # One span of 550,000 empty events (1.1 MB): the runtime made a message of each, and the
    # decoder a SpanEvent, before anything refused it (1M events: 3.4 s and 230 MB).
    span = h.make_span(1)
    span.events.extend(Span.Event() for _ in range(MAX_OBJECTS + 50_000))
    with pytest.raises(grpc.RpcError) as caught:
        call(receivers.grpc_endpoint, h.make_request(span).SerializeToString(),
             (("x-glassline-api-key", h.API_KEY),))  # fmt: skip
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"more than {MAX_OBJECTS} protobuf messages" in caught.value.details()
    assert receivers.sink.records == []


def test_storage_failure_is_unavailable_and_the_stock_exporter_retries(
    receivers: Any, h: Any
) -> None:
    receivers.sink.fail_next = 2
    names = export_with_stock_exporter(
        receivers.grpc_endpoint, {"x-glassline-api-key": h.API_KEY}, n=1
    )
    assert receivers.sink.fail_next == 0  # both failures were served
    assert [r.name for r in receivers.sink.records] == names


@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate])
def test_the_stock_exporters_compressed_exports_are_stored(
    receivers: Any, h: Any, compression: grpc.Compression
) -> None:
    # The receiver inflates them itself (grpc did), so each compression must still arrive whole.
    headers = {"x-glassline-api-key": h.API_KEY}
    names = export_with_stock_exporter(receivers.grpc_endpoint, headers, compression=compression)
    assert sorted(r.name for r in receivers.sink.records) == sorted(names)


_TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
_INFLATES_PAST = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("size", "compression", "code", "said"),
    [
        (2049, None, _TOO_LARGE, r"Received message larger than max \(2049 vs\. 2048\)"),
        (64 << 20, None, _TOO_LARGE, r"larger than max \(67108864 vs\. 2048\)"),
        (4096, grpc.Compression.Gzip, _INFLATES_PAST,
         r"exceeds the limit of 2048 bytes: its \d+ bytes of gzip inflate to 4096$"),
        (1 << 20, grpc.Compression.Deflate, _INFLATES_PAST,
         r"exceeds the limit of 2048 bytes: its \d+ bytes of deflate inflate to \d+ or more$"),
    ],
)  # fmt: skip
def test_message_over_the_size_limit_is_refused_clearly(
    h: Any, size: int, compression: grpc.Compression | None, code: grpc.StatusCode, said: str
) -> None:
    # By grpc, as soon as the message's length is in: it read up to twice the limit before
    # (what it holds of a message admission cannot count). RESOURCE_EXHAUSTED without RetryInfo
    # is final for an OTLP exporter, as a message that can never fit must be. A compressed one
    # grpc refused as "Decompressed message larger than max", naming no number: it is inflated
    # by the receiver now, and refused as an HTTP body is (413's message), as final.
    server = ServerConfig(grpc_port=0, http_port=0, max_message_bytes=2048)
    with h.start_receivers(server) as stack:
        with grpc.insecure_channel(
            stack.grpc_endpoint, options=[("grpc.max_send_message_length", -1)]
        ) as channel:
            export = channel.unary_unary(f"/{SERVICE}/Export")
            with pytest.raises(grpc.RpcError) as caught:
                export(b"\x00" * size, metadata=(("x-glassline-api-key", h.API_KEY),),
                       timeout=60, compression=compression)  # fmt: skip
        assert caught.value.code() == code
        assert re.search(said, caught.value.details()), caught.value.details()
        trailers = dict(caught.value.trailing_metadata() or ())
        assert "google.rpc.retryinfo-bin" not in trailers
        assert stack.sink.records == []


def test_a_call_with_two_messages_is_refused_whole(receivers: Any, h: Any) -> None:
    """Not the first stored and the second acknowledged unread."""
    bodies = [h.make_request(h.make_span(i)).SerializeToString() for i in (1, 2)]
    with pytest.raises(grpc.RpcError) as caught:
        call(receivers.grpc_endpoint, iter(bodies), (("x-glassline-api-key", h.API_KEY),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than one message" in caught.value.details()
    assert receivers.sink.records == []


def test_a_call_whose_message_never_comes_is_ended_and_its_admission_released(h: Any) -> None:
    server = ServerConfig(grpc_port=0, http_port=0, http_body_timeout_s=0.5)
    release = threading.Event()

    def never_sends() -> Any:
        release.wait(30)  # the client stalls before its message (a bound for the failure case)
        yield from ()

    with h.start_receivers(server) as stack:
        try:
            with pytest.raises(grpc.RpcError) as caught:
                call(stack.grpc_endpoint, never_sends(), (("x-glassline-api-key", h.API_KEY),))
        finally:
            release.set()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # retryable, with its hint
        assert "did not arrive whole within 0.5 s" in caught.value.details()
        assert dict(caught.value.trailing_metadata())["google.rpc.retryinfo-bin"]
        h.wait_for(lambda: stack.admission.requests == 0, "the ticket to be released")


def test_stock_exporter_result_is_success(receivers: Any, h: Any) -> None:
    exporter = OTLPSpanExporter(
        endpoint=receivers.grpc_endpoint, insecure=True, headers={"x-glassline-api-key": h.API_KEY}
    )
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("one") as span:
        pass
    assert exporter.export([span]) == SpanExportResult.SUCCESS  # type: ignore[list-item]
    exporter.shutdown()


def test_raw_stub_roundtrip(receivers: Any, h: Any) -> None:
    with grpc.insecure_channel(receivers.grpc_endpoint) as channel:
        reply = TraceServiceStub(channel).Export(
            h.make_request(h.make_span(1)), metadata=(("x-glassline-api-key", h.OTHER_KEY),)
        )
    assert not reply.HasField("partial_success")
    assert receivers.sink.batches[0][0].tenant == "globex"


def test_connections_are_aged_out_and_the_client_reconnects_without_losing_an_export(
    h: Any,
) -> None:
    # The GOAWAY after grpc_max_connection_age_s is what re-spreads long-lived clients over
    # the workers (SO_REUSEPORT places each new connection) and replicas.
    server = ServerConfig(host="127.0.0.1", grpc_port=0, http_port=0,
                          grpc_max_connection_age_s=0.3)  # fmt: skip
    states: list[grpc.ChannelConnectivity] = []
    dropped = threading.Event()
    ready_again = threading.Event()

    def watch(state: grpc.ChannelConnectivity) -> None:
        if states and states[-1] == grpc.ChannelConnectivity.READY and state != states[-1]:
            dropped.set()  # the ready connection went away
        states.append(state)
        if dropped.is_set() and state == grpc.ChannelConnectivity.READY:
            ready_again.set()

    metadata = (("x-glassline-api-key", h.API_KEY),)
    with h.start_receivers(server) as receivers:
        with grpc.insecure_channel(receivers.grpc_endpoint) as channel:
            channel.subscribe(watch)
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            export(h.make_request(h.make_span(1)).SerializeToString(), metadata=metadata)
            assert dropped.wait(10), f"the server never aged the connection out: {states}"
            export(h.make_request(h.make_span(2)).SerializeToString(), metadata=metadata)
            # Connectivity callbacks run on grpc's own thread: the export can return before
            # the READY of its new connection has been delivered.
            assert ready_again.wait(10), f"the second export did not reconnect: {states}"
            channel.unsubscribe(watch)
        records = receivers.sink.records
    assert [r.name for r in records] == [h.make_span(1).name, h.make_span(2).name]


def test_a_refusals_retry_hint_is_built_once_and_carries_its_delay() -> None:
    from google.rpc.error_details_pb2 import RetryInfo
    from google.rpc.status_pb2 import Status

    from glassline.collector.admission import refusal
    from glassline.collector.metrics import Metrics
    from glassline.collector.receivers.grpc import _details

    first = _details(refusal("requests", Metrics(), 1.5))
    again = _details(refusal("requests", Metrics(), 1.5))

    assert again is first  # the same refusal reuses its serialized trailers
    hints = dict(first)
    assert RetryInfo.FromString(hints["google.rpc.retryinfo-bin"]).retry_delay.ToNanoseconds() == (
        1_500_000_000
    )
    status = Status.FromString(hints["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert "in-flight requests limit" in status.message
    assert _details(refusal("bytes", Metrics(), 1.5)) != first


def _raw_call(port: int, headers: list[tuple[str, str]], frame: bytes) -> dict[str, str]:
    """One call as raw HTTP/2 frames (what no grpc client sends): its answer's headers."""
    from hpack import Decoder, Encoder

    def h2_frame(kind: int, flags: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + b"\0\0\0\1" + payload

    block = Encoder().encode(headers)
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0\0\0\4\0\0\0\0\0"  # the preface, SETTINGS
    out += h2_frame(1, 0x4, block) + h2_frame(0, 0x1, frame)  # HEADERS, DATA with END_STREAM
    answer: dict[str, str] = {}
    decoder, received = Decoder(), b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(out)
        while "grpc-status" not in answer and (chunk := sock.recv(65536)):
            received += chunk
            while len(received) >= 9 and len(received) >= 9 + int.from_bytes(received[:3]):
                size, kind, stream = int.from_bytes(received[:3]), received[3], received[5:9]
                payload, received = received[9 : 9 + size], received[9 + size :]
                if kind == 1 and stream == b"\0\0\0\1":
                    answer.update((str(k), str(v)) for k, v in decoder.decode(payload))
    return answer


def test_a_message_flagged_compressed_that_is_not_is_invalid_and_no_server_error(
    receivers: Any, h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # grpc answered it INTERNAL itself, and the handler, seeing no message, failed to answer
    # too, which grpc logged with a traceback, as a server fault. The receiver inflates
    # messages itself now: this one is no OTLP request, INVALID_ARGUMENT.
    headers = [
        (":method", "POST"), (":scheme", "http"), (":authority", "t"),
        (":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
        ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-encoding", "gzip"),
        ("x-glassline-api-key", h.API_KEY),
    ]  # fmt: skip
    with caplog.at_level(logging.ERROR):
        answers = [_raw_call(receivers.grpc_port, headers, b"\x01\0\0\0\x05hello")
                   for _ in range(3)]  # fmt: skip
        good = call(f"127.0.0.1:{receivers.grpc_port}", h.make_request(h.make_span(1)).SerializeToString(),
                    (("x-glassline-api-key", h.API_KEY),))  # fmt: skip
    invalid = str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert {answer["grpc-status"] for answer in answers} == {invalid}
    assert good is not None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _peak_rss(pids: list[int]) -> int:
    """The processes' resident memory at its highest since their VmHWM was reset."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


async def test_calls_that_hold_back_the_last_byte_of_their_message_are_bounded(
    tmp_path: Path,
) -> None:
    # grpc keeps what has come of a message until it is whole, where admission cannot count
    # it: 32 calls each holding 15 MB of a message took +489 MB. Now max_inflight_bytes //
    # max_message_bytes calls may be receiving at once (4 here); the others are refused,
    # retryable with the hint, and the memory stays within the collector's bound.
    mb = 1 << 20
    server = {"max_message_bytes": 4 * mb, "max_inflight_bytes": 16 * mb}
    with run_collector({"server": server}, workdir=tmp_path) as collector:
        pids = collector.pids()
        idle = rss_bytes(pids)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM counts from here
        key = {"x-glassline-api-key": collector.api_key}
        host, _, port = collector.grpc_endpoint.rpartition(":")
        loop = asyncio.get_running_loop()
        # Each call sends all of its message but the last byte, and never ends.
        connections = [GrpcConnection(collector.grpc_endpoint, EXPORT, key, 120.0, hold_back=1)
                       for _ in range(4)]  # fmt: skip
        for connection in connections:
            await loop.create_connection(lambda c=connection: c, host, int(port))  # type: ignore[misc]
        answers: list[tuple[str, bool]] = []
        for n in range(40):
            connections[n % 4].call(b"\x0a" * (4 * mb), lambda *answer: answers.append(answer))
        # Polled: the bytes the server takes are no event here. Until every byte is in and
        # every call but the 4 receiving ones is answered (a refusal's answer may still be on
        # its way once the last byte is sent, on a busy machine).
        for _ in range(6000):
            if len(answers) >= 36 and all(connection.all_sent() for connection in connections):
                break
            await asyncio.sleep(0.01)
        peak = _peak_rss(pids)
        for connection in connections:
            connection.close()
    assert 40 - len(answers) <= 4, answers
    assert set(answers) == {("RESOURCE_EXHAUSTED", True)}
    assert peak - idle < 2 * server["max_inflight_bytes"] + 64 * mb, (idle, peak)


def test_unreadable_messages_are_let_go_once_answered(tmp_path: Path) -> None:
    # Each admitted message that does not decode is answered INVALID_ARGUMENT by a runner. Its
    # body stayed there until its queue-wait deadline (here a minute), and past it until the
    # garbage collector broke the cycle its error's traceback made: a flood of them held
    # hundreds of MB in the runners while admission counted none of it.
    mb = 1 << 20
    server = {"workers": 2, "max_message_bytes": 4 * mb, "max_inflight_bytes": 16 * mb,
              "max_queue_wait_s": 60}  # fmt: skip
    with run_collector({"server": server}, workdir=tmp_path) as collector:
        pids = collector.pids()
        idle = rss_bytes(pids)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM counts from here
        key = (("x-glassline-api-key", collector.api_key),)
        codes = []
        for _ in range(48):  # one after another: at most one is in flight
            with pytest.raises(grpc.RpcError) as refused:
                call(collector.grpc_endpoint, b"\x0a" * (4 * mb - 1024), key)
            codes.append(refused.value.code())
        peak = _peak_rss(pids)
    assert set(codes) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert peak - idle < 2 * server["max_inflight_bytes"] + 64 * mb, (idle, peak)
