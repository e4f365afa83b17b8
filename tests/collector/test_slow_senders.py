"""Slow and silent senders do not take admission from the exports whose body is all here.

Issue 21: 64 gRPC calls whose metadata came and whose message never did held every admission
place of a worker until the body timeout (30 s), and every real export to it was refused
meanwhile. As a proxy does, a request still receiving its body counts against a separate,
larger bound (``max_receiving_requests``); ``max_inflight_requests`` bounds the requests
that are all here. 256 silent calls filled that bound too: a gRPC call whose message has not
come after a body rate window gives its place to a newer export when they are all taken (an
HTTP upload must keep its least rate). The end-to-end specs run the real collector (two workers: one front whose
admission every connection goes through) and wait on its own gauges.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import create_engine, func, select

from glassline.collector.admission import Admission
from glassline.collector.config import ServerConfig
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import metric_by_label, run_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PLACES = 4  # max_inflight_requests of the collectors here
SILENT = 2 * PLACES  # more silent senders than there are places


def _answered_or_held(http_endpoint: str) -> float:
    """Export requests the collector holds (whole or still receiving) or has refused, summed
    over its processes: every silent sender is one or the other once the front has seen it."""
    total = sum(
        metric_by_label(http_endpoint, "glassline_requests_refused_total", "bound").values()
    )
    for line in httpx.get(f"{http_endpoint}/metrics", timeout=30).text.splitlines():
        if line.startswith(("glassline_inflight_requests ", "glassline_receiving_requests ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_seen(h: Any, http_endpoint: str, senders: int = SILENT) -> None:
    h.wait_for(lambda: _answered_or_held(http_endpoint) == senders, "every silent sender seen")


def _stored(db_url: str, name: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(SpanRow).where(SpanRow.name == name)
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Any]:
    # No least body rate: it would end the stalled uploads within its window (5 s), and here
    # they must stay until the export is answered (the body timeout, 30 s, still ends them).
    server = {"workers": 2, "max_inflight_requests": PLACES, "http_body_min_rate_bytes_s": 0}
    config = {"server": server, "redaction": None}
    with run_collector(config, workdir=tmp_path) as running:
        yield running


@contextmanager
def _silent_grpc_calls(collector: Any, h: Any, calls: int) -> Iterator[list[grpc.Future]]:
    """``calls`` gRPC exports that send their metadata and never their message, all seen by
    the collector (held or refused) on entry; cancelled on exit."""
    metadata = (("x-glassline-api-key", collector.api_key),)
    release = threading.Event()

    def never_sends() -> Iterator[bytes]:
        release.wait(300)  # a bound for the failure case only
        yield from ()

    with grpc.insecure_channel(collector.grpc_endpoint) as channel:
        silent = [
            channel.stream_unary(EXPORT).future(never_sends(), metadata=metadata, timeout=300)
            for _ in range(calls)
        ]
        try:
            _wait_seen(h, collector.http_endpoint, calls)
            yield silent
        finally:
            for call in silent:
                call.cancel()
            release.set()


def test_silent_grpc_calls_leave_room_for_a_real_export(collector: Any, h: Any) -> None:
    """Eight calls send their metadata and never their message; an export sent meanwhile on
    the same front is admitted and stored (before: RESOURCE_EXHAUSTED for 30 s)."""
    metadata = (("x-glassline-api-key", collector.api_key),)
    body = h.make_request(h.make_span(1, name="real-grpc")).SerializeToString()
    with (
        _silent_grpc_calls(collector, h, SILENT),
        grpc.insecure_channel(collector.grpc_endpoint) as channel,
    ):
        channel.unary_unary(EXPORT)(body, metadata=metadata, timeout=60)
    assert _stored(collector.db_url, "real-grpc") == 1


def test_more_silent_grpc_calls_than_receiving_places_leave_room_for_an_exporter(
    tmp_path: Path, h: Any
) -> None:
    """260 calls send their metadata and never their message: 256 take every receiving place
    of the front, 4 are refused. The SDK's own gRPC exporter, refused at first, retries as the
    hint says and gets in once the silent calls have waited a body rate window (1 s here): the
    oldest gives its place way and is ended, retryable. Before, every place was held until
    the body timeout (30 s; 120 s here) and the exporter gave up."""
    server = {"workers": 2, "http_body_rate_window_s": 1, "http_body_timeout_s": 120}
    places = ServerConfig().max_receiving_requests
    with run_collector({"server": server, "redaction": None}, workdir=tmp_path) as collector:
        with _silent_grpc_calls(collector, h, places + 4) as silent:
            exporter = OTLPSpanExporter(
                endpoint=collector.grpc_endpoint, insecure=True, timeout=60,
                headers={"x-glassline-api-key": collector.api_key},
            )  # fmt: skip
            with TracerProvider().get_tracer("t").start_as_current_span("real-exporter") as span:
                pass
            assert exporter.export([span]) == SpanExportResult.SUCCESS  # type: ignore[list-item]
            gave_way = [call for call in silent if call.done() and not call.cancelled()]
        refused = metric_by_label(collector.http_endpoint, "glassline_requests_refused_total",
                                  "bound")  # fmt: skip
        assert _stored(collector.db_url, "real-exporter") == 1
    assert refused.get("stalled", 0) >= 1 and refused["receiving"] >= 4
    codes = {call.exception().code() for call in gave_way}  # type: ignore[union-attr]
    assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}  # retryable, with the hint


def _silent_upload(port: int, key: str, shape: str) -> bytes:
    """The head (and, ``partial``, a first piece) of an upload whose body never ends."""
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
        b"x-glassline-api-key: " + key.encode() + b"\r\n"
    )
    if shape == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"x" * 1024 + b"\r\n"
    # The most a request may declare: eight of them declare the whole in-flight byte budget.
    declared = ServerConfig().max_message_bytes
    first = b"x" * 1024 if shape == "partial" else b""
    return head + f"Content-Length: {declared}\r\n\r\n".encode() + first


@pytest.mark.parametrize("shape", ["declared", "partial", "chunked"])
def test_stalled_http_uploads_leave_room_for_a_real_export(
    collector: Any, h: Any, shape: str
) -> None:
    """Eight uploads stall mid-body (nothing after a declared 8 MB, the first KB of it, a
    chunk of a chunked body); an export sent meanwhile is admitted and stored. A declared
    length is checked on arrival but held only as it arrives, so the eight hold 0-8 KB, not
    the whole 64 MB budget."""
    with ExitStack() as stack:
        for _ in range(SILENT):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", collector.http_port)))
            sock.sendall(_silent_upload(collector.http_port, collector.api_key, shape))
        _wait_seen(h, collector.http_endpoint)
        body = h.make_request(h.make_span(1, name=f"real-{shape}")).SerializeToString()
        reply = httpx.post(
            f"{collector.http_endpoint}/v1/traces", content=body, timeout=60,
            headers={"content-type": "application/x-protobuf",
                     "x-glassline-api-key": collector.api_key},
        )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert _stored(collector.db_url, f"real-{shape}") == 1


def test_receiving_requests_have_their_own_bound_refused_with_a_hint(h: Any) -> None:
    """Past ``max_receiving_requests`` uploads still coming in, the next is refused on
    arrival with 429 + Retry-After, its body unread. A gRPC export arrives receiving too (its
    handler runs before its message is read), so it gets in once an upload has gone."""
    server = ServerConfig(
        grpc_port=0, http_port=0, max_inflight_requests=2, max_receiving_requests=3,
        retry_after_s=2, http_body_min_rate_bytes_s=0,  # the uploads stay until closed
    )  # fmt: skip
    with h.start_receivers(server) as stack, ExitStack() as held:
        stalled = []
        for _ in range(3):
            sock = held.enter_context(socket.create_connection(("127.0.0.1", stack.http_port)))
            sock.sendall(_silent_upload(stack.http_port, h.API_KEY, "declared"))
            stalled.append(sock)
        h.wait_for(lambda: stack.admission.receiving == 3, "three uploads receiving")
        with socket.create_connection(("127.0.0.1", stack.http_port), timeout=30) as sock:
            sock.sendall(_silent_upload(stack.http_port, h.API_KEY, "declared"))
            head = b"".join(iter(sock.makefile("rb").readline, b"\r\n")).lower()
        assert head.startswith(b"http/1.1 429") and b"retry-after: 2" in head
        assert stack.metrics.refused.labels("receiving")._value.get() == 1
        stalled[0].close()  # the client gives up: its place is free again
        h.wait_for(lambda: stack.admission.receiving == 2, "the closed upload released")
        with grpc.insecure_channel(stack.grpc_endpoint) as channel:
            body = h.make_request(h.make_span(1)).SerializeToString()
            channel.unary_unary(EXPORT)(body, metadata=(("x-glassline-api-key", h.API_KEY),))
        assert [r.name for r in stack.sink.records] == ["span-1"]


def test_a_body_that_completes_after_the_places_filled_is_refused_at_the_hand_over() -> None:
    """The requests bound is checked on arrival (refused unread) and again when the body is
    all here: a slow upload finishing when every place is taken is refused then."""
    metrics = Metrics()
    admission = Admission(max_bytes=10**6, max_requests=1, metrics=metrics, max_receiving=10)
    with admission.admit() as slow, admission.admit() as fast:
        assert (admission.requests, admission.receiving) == (2, 2)
        fast.reserve(100)
        fast.start()  # the one place
        assert admission.receiving == 1
        with pytest.raises(RetryableError), admission.admit():
            pass  # no place for a whole request: refused on arrival
        slow.reserve(100)
        with pytest.raises(RetryableError) as caught:
            slow.start()
        assert admission.queued_bytes == 100  # only the one handed over is work ahead
    assert caught.value.overloaded and "in-flight requests" in caught.value.message
    assert metrics.refused.labels("requests")._value.get() == 2
    assert (admission.requests, admission.receiving, admission.bytes) == (0, 0, 0)


def test_a_declared_length_must_fit_on_arrival_and_is_held_as_it_arrives() -> None:
    admission = Admission(max_bytes=1000, max_requests=10, metrics=Metrics())
    with admission.admit(declared=600) as first, admission.admit(declared=600) as second:
        assert admission.bytes == 0  # nothing has arrived yet
        first.reserve(600)
        with pytest.raises(RetryableError):
            second.reserve(600)  # the bytes bound holds as the bodies stream in
        with pytest.raises(RetryableError), admission.admit(declared=401):
            pass  # could not fit now: refused before a byte of it is read
        assert admission.bytes == 600
    assert admission.bytes == 0


def test_a_request_that_can_give_way_does_so_once_it_has_waited_and_every_place_is_taken() -> None:
    """A gRPC call waiting for its message can give way, an HTTP upload (its least rate ends
    it) cannot: past ``stall_after_s`` the oldest that can gives its place to a newer
    request, is told to end, and is refused, retryable, if its body comes after all."""
    now = [0.0]
    metrics = Metrics()
    admission = Admission(max_bytes=10**6, max_requests=4, metrics=metrics, max_receiving=2,
                          stall_after_s=5, clock=lambda: now[0])  # fmt: skip
    ended: list[str] = []
    with admission.admit() as call, admission.admit():
        call.give_way_with(lambda: ended.append("grpc"))
        now[0] = 4.9
        with pytest.raises(RetryableError), admission.admit():
            pass  # every place taken, and the call has not waited long enough
        now[0] = 5.0
        with admission.admit() as newer:
            assert ended == ["grpc"]
            assert (admission.requests, admission.receiving) == (2, 2)
            now[0] = 100.0
            with pytest.raises(RetryableError), admission.admit():
                pass  # an upload does not give way, however long it has waited
            call.reserve(100)  # its message came before it ended
            with pytest.raises(RetryableError) as caught:
                call.start()
            newer.reserve(100)
            newer.start()
            assert (admission.requests, admission.receiving, admission.bytes) == (2, 1, 200)
    assert caught.value.overloaded and "newer request" in caught.value.message
    assert (admission.requests, admission.receiving, admission.bytes) == (0, 0, 0)
    refused = {b: metrics.refused.labels(b)._value.get() for b in ("receiving", "stalled")}
    assert refused == {"receiving": 2, "stalled": 1}
    assert metrics.receiving_requests._value.get() == 0
    assert metrics.inflight_requests._value.get() == 0


def test_requests_whose_bytes_are_unseen_take_fewer_receiving_places() -> None:
    """grpc holds a call's message until it is whole, where admission cannot count it: only
    ``max_unseen`` such requests receive at once. Others (HTTP uploads, reserved as they
    come) still take the remaining places, and a stalled call gives its place way as before."""
    now = [0.0]
    metrics = Metrics()
    admission = Admission(max_bytes=10**6, max_requests=8, metrics=metrics, max_receiving=8,
                          max_unseen=2, stall_after_s=5, clock=lambda: now[0])  # fmt: skip
    ended: list[str] = []
    with admission.admit(unseen=True) as first, admission.admit(unseen=True):
        first.give_way_with(lambda: ended.append("first"))
        with pytest.raises(RetryableError) as caught, admission.admit(unseen=True):
            pass
        with admission.admit():
            assert (admission.receiving, admission.unseen) == (3, 2)
        now[0] = 5.0
        with admission.admit(unseen=True) as newer:
            assert ended == ["first"]
            assert (admission.receiving, admission.unseen) == (2, 2)
            newer.reserve(10)
            newer.start()  # its message is whole: grpc holds none of it now
            assert (admission.receiving, admission.unseen) == (1, 1)
    assert caught.value.overloaded and "receiving" in caught.value.message
    assert (admission.requests, admission.receiving, admission.unseen) == (0, 0, 0)
