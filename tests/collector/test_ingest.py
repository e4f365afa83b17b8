"""receivers/_ingest.py: an export decoded and handed on, a large one a slice at a time."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bench.big_exports import big_export, peak_rss, reset_peaks
from glassline.collector.auth import Principal
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.receivers import Ingest
from glassline.collector.testing import rss_bytes, run_collector

MB = 1 << 20


def _request(h: Any, spans: int) -> bytes:
    request = h.make_request(*[h.make_span(i) for i in range(1, spans + 1)])
    request.resource_spans[0].scope_spans[0].spans[4].span_id = b""  # rejected alone
    return request.SerializeToString()


def test_a_large_binary_export_is_stored_a_slice_at_a_time(h: Any) -> None:
    sink = h.Sink()
    ingest = Ingest(sink, Metrics(), max_spans=1000, slice_bytes=1000)
    body = _request(h, 40)
    result = ingest.export("grpc", Principal("acme"), body, "protobuf")
    assert [r.span_id[-2:] for r in sink.records] == [f"{i:02x}" for i in range(1, 41) if i != 5]
    assert len(sink.batches) > 3
    assert all(len(batch) * 60 < 1000 for _, batch in sink.batches)  # ~70 bytes a span
    # The answer reports what every slice rejected, and holds no records.
    assert (result.records, dict(result.rejected)) == ([], {"invalid_span_id": 1})
    assert ingest.reply(result).partial_success.rejected_spans == 1


def test_an_export_within_a_slice_is_stored_whole(h: Any) -> None:
    sink = h.Sink()
    body = _request(h, 40)
    Ingest(sink, Metrics(), max_spans=1000, slice_bytes=len(body)).export(
        "grpc", Principal("acme"), body, "protobuf"
    )
    assert [len(batch) for _, batch in sink.batches] == [39]


def test_a_slice_not_stored_fails_the_export_as_retryable(h: Any) -> None:
    # Its client sends the whole export again; the store drops the slices it already had.
    sink = h.Sink()
    calls = 0

    def fail_the_third(principal: Principal, records: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RetryableError("storage is unavailable", retry_after_s=0.1)
        sink(principal, records)

    ingest = Ingest(fail_the_third, Metrics(), max_spans=1000, slice_bytes=1000)
    with pytest.raises(RetryableError):
        ingest.export("grpc", Principal("acme"), _request(h, 40), "protobuf")
    assert calls == 3 and len(sink.batches) == 2


def _export(collector: Any, body: bytes, answers: list[str]) -> None:
    """Send ``body`` until stored, waiting out each refusal's hint as an exporter does."""
    with grpc.insecure_channel(collector.grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        for _ in range(60):
            try:
                export(body, metadata=(("x-glassline-api-key", collector.api_key),), timeout=60)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    answers.append(exc.code().name)
                    return
                threading.Event().wait(1.0)  # the refusal's hint: an exporter waits it out
                continue
            answers.append("OK")
            return


def test_concurrent_large_valid_exports_stay_within_the_memory_bound(
    tmp_path: Path, any_store_url: str
) -> None:
    # A valid 8 MB export was decoded whole in its runner, ~60 MB there (twice that with
    # SQLite's transaction) while admission counted its 8 MB: four at once took the
    # collector +309 MB above idle on SQLite, +170 MB on PostgreSQL (bound: 2 x
    # max_inflight_bytes + 64 MB, 192 MB with the defaults).
    rng = random.Random(5)
    bodies = [big_export(8, rng) for _ in range(4)]
    config = {"server": {"workers": 2}, "storage": {"url": any_store_url}}
    with run_collector(config, workdir=tmp_path) as collector:
        answers: list[str] = []
        warm_up = [big_export(0.5, rng) for _ in range(2)]  # each runner's lazy parts loaded
        _send_together(collector, warm_up, answers)
        pids = collector.pids()
        idle = rss_bytes(pids)
        reset_peaks(pids)  # VmHWM counts from here
        _send_together(collector, bodies, answers)
        peak = sum(peak_rss(pids).values())
    assert answers == ["OK"] * 6
    assert peak - idle < 2 * 64 * MB + 64 * MB, ((peak - idle) / MB, idle / MB)


def _send_together(collector: Any, bodies: list[bytes], answers: list[str]) -> None:
    senders = [threading.Thread(target=_export, args=(collector, b, answers)) for b in bodies]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
