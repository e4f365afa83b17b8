"""Shared helpers for the collector's tests: OTLP messages and in-process receivers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span

from glassline.collector.admission import Admission
from glassline.collector.auth import Keyring, Principal
from glassline.collector.config import AuthConfig, ServerConfig
from glassline.collector.handoff import LocalExports
from glassline.collector.metrics import Metrics
from glassline.collector.receivers import (
    GrpcReceiver,
    Ingest,
    LogsIngest,
    build_app,
    uvicorn_config,
)
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.testing import DEFAULT_POSTGRES_URL, isolated_postgres_url
from glassline.collector.testing import free_port

POSTGRES_URL = os.environ.get("GLASSLINE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'glassline.db'}"
    else:
        with isolated_postgres_url(POSTGRES_URL) as url:
            yield url


@pytest.fixture
def any_store(any_store_url: str) -> Iterator[Store]:
    """The same test on a SQLite file and on a fresh PostgreSQL schema."""
    opened = Store.open(any_store_url)
    yield opened
    opened.close()


API_KEY = "test-key-acme-0123456789"
OTHER_KEY = "test-key-globex-0123456789"


def kv(key: str, value: Any) -> KeyValue:
    any_value = AnyValue()
    if isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    else:
        any_value.string_value = value
    return KeyValue(key=key, value=any_value)


def make_span(i: int = 1, trace: int = 1, **overrides: Any) -> Span:
    span = Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=i.to_bytes(8, "big"),
        name=f"span-{i}",
        start_time_unix_nano=1_700_000_000_000_000_000 + i,
        end_time_unix_nano=1_700_000_000_500_000_000 + i,
        kind=Span.SPAN_KIND_CLIENT,
        attributes=[kv("gen_ai.request.model", "gpt-4o"), kv("gen_ai.usage.input_tokens", 10)],
    )
    for name, value in overrides.items():
        setattr(span, name, value)
    return span


def make_request(*spans: Span, service: str = "app") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    rs.scope_spans.append(ScopeSpans(spans=list(spans)))
    return request


@dataclass
class Sink:
    """A real consume callable that keeps what it got; ``fail`` / ``gate`` shape its answers."""

    batches: list[tuple[Principal, list[SpanRecord]]] = field(default_factory=list)
    fail_next: int = 0
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, principal: Principal, records: Any) -> None:
        from glassline.collector.errors import RetryableError

        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise RetryableError("storage is unavailable", retry_after_s=0.1)
            self.batches.append((principal, records))

    @property
    def records(self) -> list[SpanRecord]:
        return [r for _, batch in self.batches for r in batch]


@dataclass
class Receivers:
    sink: Sink
    metrics: Metrics
    admission: Admission
    grpc_port: int
    http_port: int
    logs_sink: Sink = field(default_factory=Sink)  # gets (principal, LogsDecodeResult)

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@contextlib.contextmanager
def start_receivers(
    server: ServerConfig, max_spans: int = 10_000, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[Receivers]:
    """Both receivers over LocalExports; ``clock`` is the admission's (deadlines included)."""
    keyring = Keyring.from_config(
        AuthConfig(tenants={"acme": [API_KEY], "globex": [OTHER_KEY]}), environ={}
    )
    metrics = Metrics()
    sink = Sink()
    admission = Admission(
        server.max_inflight_bytes, server.max_inflight_requests, metrics, server.retry_after_s,
        max_queue_wait_s=server.max_queue_wait_s, max_receiving=server.max_receiving_requests,
        clock=clock,
    )  # fmt: skip
    ingest = Ingest(sink, metrics, max_spans=max_spans)
    logs_sink = Sink()
    logs = LogsIngest(logs_sink, metrics, max_records=max_spans)
    exports = LocalExports({"traces": ingest, "logs": logs}, server.grpc_threads, metrics,
                           retry_after_s=server.retry_after_s)  # fmt: skip
    grpc_receiver = GrpcReceiver(server, keyring, admission, exports, metrics)
    grpc_port = grpc_receiver.start()
    app = build_app(server, keyring, admission, exports, metrics)
    http_port = free_port()
    http = uvicorn.Server(uvicorn_config(app, server, host="127.0.0.1", port=http_port))
    thread = threading.Thread(target=lambda: asyncio.run(http.serve()), daemon=True)
    thread.start()
    wait_for(lambda: http.started, "uvicorn to start")
    try:
        yield Receivers(sink, metrics, admission, grpc_port, http_port, logs_sink)
    finally:
        for gated in (sink, logs_sink):
            if gated.gate is not None:
                gated.gate.set()
        http.should_exit = True
        grpc_receiver.stop(1)
        thread.join(10)
        exports.close(1)


def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    server = ServerConfig(host="127.0.0.1", grpc_port=0, http_port=0, retry_after_s=0.2)
    with start_receivers(server) as stack:
        yield stack


@pytest.fixture(autouse=True)
def _no_multiprocess_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")


class Helpers:
    """Test helpers, reachable from tests as the ``h`` fixture (importlib mode: no imports)."""

    API_KEY = API_KEY
    OTHER_KEY = OTHER_KEY
    kv = staticmethod(kv)
    make_span = staticmethod(make_span)
    make_request = staticmethod(make_request)
    wait_for = staticmethod(wait_for)
    start_receivers = staticmethod(start_receivers)
    Sink = Sink


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
