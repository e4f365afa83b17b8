"""Bounded in-flight work: when full, refuse with RESOURCE_EXHAUSTED / 429 + Retry-After."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import httpx
import pytest

from glassline.collector.config import ServerConfig
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.pipeline import Admission

PB = {"content-type": "application/x-protobuf"}


@pytest.fixture
def full_stack(h: Any) -> Any:
    """Receivers admitting one request at a time, with that one request held in consume."""
    server = ServerConfig(grpc_port=0, http_port=0, max_inflight_requests=1, retry_after_s=2)
    with h.start_receivers(server) as stack:
        stack.sink.gate = threading.Event()
        body = h.make_request(h.make_span(1)).SerializeToString()
        holder: dict[str, Any] = {}

        def first(stack: Any = stack, body: bytes = body, holder: dict = holder) -> None:
            holder["reply"] = httpx.post(
                f"{stack.http_url}/v1/traces", content=body, timeout=30,
                headers={**PB, "x-glassline-api-key": h.API_KEY},
            )  # fmt: skip

        thread = threading.Thread(target=first)
        thread.start()
        assert stack.sink.entered.wait(10)
        yield stack, body
        stack.sink.gate.set()
        thread.join(10)
        assert holder["reply"].status_code == 200  # the admitted request still succeeds


def test_http_answers_429_with_retry_after_when_full(full_stack: Any, h: Any) -> None:
    stack, body = full_stack
    reply = httpx.post(f"{stack.http_url}/v1/traces", content=body, timeout=10,
                       headers={**PB, "x-glassline-api-key": h.API_KEY})  # fmt: skip
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "2"
    assert stack.admission.requests == 1


def test_grpc_answers_resource_exhausted_with_retry_info_when_full(full_stack: Any, h: Any) -> None:
    from google.rpc.error_details_pb2 import RetryInfo

    stack, body = full_stack
    with grpc.insecure_channel(stack.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as caught:
            export(body, metadata=(("x-glassline-api-key", h.API_KEY),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailer = dict(caught.value.trailing_metadata())["google.rpc.retryinfo-bin"]
    assert RetryInfo.FromString(trailer).retry_delay.seconds == 2


def test_admission_bounds_bytes_and_requests() -> None:
    admission = Admission(max_bytes=1000, max_requests=3, metrics=Metrics())
    with admission.admit(600):
        with pytest.raises(RetryableError) as caught, admission.admit(500):
            pass
        assert caught.value.overloaded and caught.value.http_status == 429
        with admission.admit(400) as ticket:
            with pytest.raises(RetryableError):
                ticket.grow(1)
            assert admission.bytes == 1000
    assert (admission.bytes, admission.requests) == (0, 0)


def test_admission_releases_on_error() -> None:
    admission = Admission(max_bytes=100, max_requests=1, metrics=Metrics())
    with pytest.raises(KeyError), admission.admit(50):
        raise KeyError("boom")
    with admission.admit(100):
        assert admission.requests == 1
    assert (admission.bytes, admission.requests) == (0, 0)
