"""Through the real collector: an answer that cannot be sent (the client gave it no window,
then left) is a debug line, not an ERROR with grpc's traceback."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

import httpx
from hpack import Encoder
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.wire import _PREFACE, _frame
from glassline.collector.testing import run_collector

_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _request(trace_id: bytes) -> bytes:
    now = time.time_ns()
    request = ExportTraceServiceRequest()
    span = Span(trace_id=trace_id, span_id=b"\x01" * 8, name="answer-lost",
                start_time_unix_nano=now - 10**9, end_time_unix_nano=now)  # fmt: skip
    request.resource_spans.add().scope_spans.add().spans.append(span)
    return request.SerializeToString()


def _wait_for(predicate: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_an_answer_the_client_gave_no_window_for_is_a_debug_line(tmp_path: Path) -> None:
    trace_id = b"\x42" * 16
    config = {"logging": {"level": "DEBUG"}}
    with (
        run_collector(config, workdir=tmp_path) as collector,
        httpx.Client(timeout=30) as client,
        socket.create_connection(("127.0.0.1", collector.grpc_port)) as sock,
    ):
        key = collector.headers()["authorization"]
        head = Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", _PATH),
                                 (":authority", "x"), ("content-type", "application/grpc"),
                                 ("te", "trailers"), ("authorization", key)])  # fmt: skip
        body = _request(trace_id)
        sock.sendall(
            _PREFACE
            + _frame(4, 0, 0, (4).to_bytes(2, "big") + bytes(4))  # SETTINGS: initial window 0
            + _frame(1, 0x4, 1, head)  # HEADERS, END_HEADERS
            + _frame(0, 0x1, 1, b"\0" + struct.pack(">I", len(body)) + body)  # DATA, END_STREAM
        )
        url = f"{collector.http_endpoint}/api/v1/traces/{trace_id.hex()}"
        _wait_for(lambda: client.get(url, headers=collector.headers()).status_code == 200,
                  "the export stored")  # fmt: skip
        sock.close()  # the answer is still waiting for a window
        _wait_for(lambda: "ExecuteBatchError" in collector.logs(), "grpc's failed answer")
        logs = collector.logs()
    lines = [line for line in logs.splitlines() if "ExecuteBatchError" in line]
    assert lines and not any("ERROR" in line for line in lines), lines
    assert "Traceback" not in logs
