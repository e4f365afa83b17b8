"""No silent loss: every span is exported or counted as dropped, and the count reaches the collector.

A real OTLP/HTTP exporter sends to a loopback sink. The sink can hold its first request until
the burst is over, so the queue overflows for certain (no timing involved).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from glassline.instrumentation import export_stats, init, llm, shutdown, stage
from glassline.instrumentation._queue import DROPPED_SPAN_NAME


class Sink:
    """Counts the app's spans and the dropped-span reports it receives."""

    def __init__(self) -> None:
        self.spans = 0
        self.reported_dropped = 0
        self.request_bytes: list[int] = []
        self.gate = threading.Event()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                sink.gate.wait(30)  # bounded: a broken test must not hang
                body = self.rfile.read(int(self.headers["content-length"]))
                sink.request_bytes.append(len(body))
                sink.count(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        if span.name != DROPPED_SPAN_NAME:
                            self.spans += 1
                            continue
                        for kv in span.attributes:
                            if kv.key == DROPPED_SPAN_NAME:
                                self.reported_dropped += kv.value.int_value


@pytest.fixture
def sink() -> Iterator[Sink]:
    running = Sink()
    try:
        yield running
    finally:
        running.gate.set()
        running.server.shutdown()
        running.server.server_close()


@stage("step")
def step() -> None:
    return None


def test_a_burst_beyond_the_queue_is_counted_logged_and_reported(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    init(endpoint=sink.url, protocol="http", max_queue_size=256, export_batch_size=64)
    with caplog.at_level(logging.WARNING, "glassline.instrumentation"):
        for _ in range(5_000):  # the sink holds the first export: the queue must overflow
            step()
        stats = export_stats()
    assert stats is not None and stats.ended == 5_000
    assert stats.dropped >= 5_000 - 256 - 64
    warnings = [r for r in caplog.records if "not exported (queue full" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: one line, not one per span
    sink.gate.set()
    shutdown()
    assert sink.spans + sink.reported_dropped == 5_000
    assert sink.reported_dropped == stats.dropped  # the collector is told every lost span


def test_a_tight_loop_of_ten_thousand_calls_loses_nothing_silently(sink: Sink) -> None:
    sink.gate.set()
    init(endpoint=sink.url, protocol="http")  # the default sizing
    for _ in range(10_000):
        step()
    shutdown()
    assert sink.spans + sink.reported_dropped == 10_000


@llm(provider="openai", model="gpt-4o-mini")
def generate(*, messages: list[dict[str, str]]) -> str:
    return "ok"


def _long_prompt(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}: " + "context " * 1800}]  # ~14 KB


def test_batches_are_cut_by_bytes_too_so_no_request_is_over_the_budget(sink: Sink) -> None:
    sink.gate.set()
    init(endpoint=sink.url, protocol="http", export_batch_bytes=100_000)
    for i in range(60):  # about 870 KB of spans: 9 requests at least, however they are queued
        generate(messages=_long_prompt(i))
    shutdown()
    assert sink.spans == 60
    assert len(sink.request_bytes) >= 9
    assert max(sink.request_bytes) <= 100_000


def test_a_span_over_the_byte_budget_is_sent_alone(sink: Sink) -> None:
    sink.gate.set()
    init(endpoint=sink.url, protocol="http", export_batch_bytes=1_000)
    for i in range(5):
        generate(messages=_long_prompt(i))
    shutdown()
    assert sink.spans == 5 and len(sink.request_bytes) == 5


def test_an_export_that_fails_counts_its_spans(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.server.shutdown()  # nothing answers: every export fails
    sink.server.server_close()
    init(endpoint=sink.url, protocol="http", export_timeout=1.0)
    for _ in range(10):
        step()
    with caplog.at_level(logging.WARNING, "glassline.instrumentation"):
        shutdown()
    assert sink.spans == 0
    [warning] = [r for r in caplog.records if "not exported (export failed" in r.getMessage()]
    assert "10 span(s)" in warning.getMessage()


def test_a_forked_worker_exports_its_own_spans(sink: Sink) -> None:
    import os

    sink.gate.set()
    init(endpoint=sink.url, protocol="http")
    pid = os.fork()
    if pid == 0:  # the child: a prefork server's worker, which lives long and never flushes
        code = 1
        try:
            exporting = any(t.name == "glassline-export" for t in threading.enumerate())
            for _ in range(50):
                step()
            shutdown()
            code = 0 if exporting else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    shutdown()
    assert os.waitstatus_to_exitcode(status) == 0
    assert sink.spans == 50  # exported by the child's own export thread
