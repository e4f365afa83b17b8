"""Bounded in-flight work: when full, refuse with RESOURCE_EXHAUSTED / 429 + Retry-After."""

from __future__ import annotations

import collections
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from grpc._cython import cygrpc

from glassline.collector._aio import the_loop
from glassline.collector.admission import Admission
from glassline.collector.config import ServerConfig
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics

PB = {"content-type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


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


def test_grpc_refuses_on_the_calls_metadata_without_reading_its_message(
    full_stack: Any, h: Any
) -> None:
    """Under overload nine requests in ten are refused: their bodies are never read. The
    answer comes while the client still holds its message back (a handler that read the
    message first would wait for it, and this call would run into its deadline)."""
    from google.rpc.error_details_pb2 import RetryInfo

    stack, body = full_stack
    held_back = threading.Event()

    def requests() -> Any:
        held_back.wait(30)
        yield body

    with grpc.insecure_channel(stack.grpc_endpoint) as channel:
        export = channel.stream_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as caught:
            export(requests(), metadata=(("x-glassline-api-key", h.API_KEY),), timeout=10)
        held_back.set()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailer = dict(caught.value.trailing_metadata())["google.rpc.retryinfo-bin"]
    assert RetryInfo.FromString(trailer).retry_delay.seconds == 2


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_the_sdks_own_exporters_are_refused_then_deliver_once_there_is_room(
    full_stack: Any, h: Any, transport: str
) -> None:
    """What a refusal is for, with the OpenTelemetry SDK's exporters unchanged: refused while
    the collector is full, each waits the delay the refusal names (RetryInfo / Retry-After),
    sends again, and succeeds once the held request has made room; the span is stored once."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    stack, _ = full_stack
    headers = {"x-glassline-api-key": h.API_KEY}
    exporter = (
        GrpcExporter(endpoint=stack.grpc_endpoint, insecure=True, headers=headers, timeout=30)
        if transport == "grpc"
        else HttpExporter(endpoint=f"{stack.http_url}/v1/traces", headers=headers, timeout=30)
    )
    with TracerProvider().get_tracer("t").start_as_current_span("refused-then-stored") as span:
        pass

    def refusals() -> float:
        sample = stack.metrics.registry.get_sample_value(
            "glassline_requests_refused_total", {"bound": "requests"}
        )
        return sample or 0.0

    results: list[SpanExportResult] = []
    sending = threading.Thread(target=lambda: results.append(exporter.export([span])))
    sending.start()
    h.wait_for(lambda: refusals() >= 1, "the exporter's first attempt to be refused")
    stack.sink.gate.set()  # the held request is stored: room for the exporter's retry
    sending.join(60)
    exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS]
    assert [r.name for r in stack.sink.records].count("refused-then-stored") == 1


def test_a_grpc_call_without_a_message_is_invalid_argument(h: Any) -> None:
    server = ServerConfig(grpc_port=0, http_port=0)
    with h.start_receivers(server) as stack, grpc.insecure_channel(stack.grpc_endpoint) as channel:
        export = channel.stream_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as caught:
            export(iter(()), metadata=(("x-glassline-api-key", h.API_KEY),), timeout=10)
        assert (stack.admission.bytes, stack.admission.requests) == (0, 0)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no message" in caught.value.details()


def test_admission_bounds_bytes_and_requests() -> None:
    admission = Admission(max_bytes=1000, max_requests=3, metrics=Metrics())
    with admission.admit(600):
        with pytest.raises(RetryableError) as caught, admission.admit(500):
            pass
        assert caught.value.overloaded and caught.value.http_status == 429
        with admission.admit(400) as ticket:
            with pytest.raises(RetryableError):
                ticket.reserve(401)
            assert admission.bytes == 1000
    assert (admission.bytes, admission.requests) == (0, 0)


def test_admission_releases_on_error() -> None:
    admission = Admission(max_bytes=100, max_requests=1, metrics=Metrics())
    with pytest.raises(KeyError), admission.admit(50):
        raise KeyError("boom")
    with admission.admit(100):
        assert admission.requests == 1
    assert (admission.bytes, admission.requests) == (0, 0)


def test_grpc_refusal_comes_from_admission_with_retry_info_not_from_grpc(h: Any) -> None:
    """One handler thread busy: the next RPC is refused by admission, carrying its retry hint
    in both trailers (grpc's own concurrency refusal carries none, and a spec-following
    exporter drops a batch refused without RetryInfo)."""
    from google.rpc.error_details_pb2 import RetryInfo
    from google.rpc.status_pb2 import Status

    server = ServerConfig(grpc_port=0, http_port=0, grpc_threads=1, max_inflight_requests=1)
    body = h.make_request(h.make_span(1)).SerializeToString()
    with h.start_receivers(server) as stack, grpc.insecure_channel(stack.grpc_endpoint) as channel:
        stack.sink.gate = threading.Event()
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        metadata = (("x-glassline-api-key", h.API_KEY),)
        first = export.future(body, metadata=metadata, timeout=30)
        assert stack.sink.entered.wait(10)
        with pytest.raises(grpc.RpcError) as caught:
            export(body, metadata=metadata, timeout=10)
        stack.sink.gate.set()
        first.result()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(caught.value.trailing_metadata())
    status = Status.FromString(trailers["grpc-status-details-bin"])
    info = RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 1
    assert "in-flight requests" in caught.value.details()


def test_a_burst_of_calls_grpc_has_not_handed_over_yet_is_answered_by_admission(h: Any) -> None:
    """2,500 calls on one channel arrive while the server's loop is busy: grpc holds them in
    its backlog until the loop takes them, and cancelled some at random past 1,000 (CANCELLED,
    no hint, unseen by admission). Each is now answered: stored, or refused with RetryInfo."""
    # No connection age: its GOAWAY must not end the calls waiting meanwhile.
    server = ServerConfig(grpc_port=0, http_port=0, retry_after_s=0.2,
                          grpc_max_connection_age_s=None)  # fmt: skip
    body = h.make_request(h.make_span(1)).SerializeToString()
    metadata = (("x-glassline-api-key", h.API_KEY),)
    busy, release = threading.Event(), threading.Event()
    with h.start_receivers(server) as stack, grpc.insecure_channel(stack.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT)
        started = _grpc_server_calls()
        the_loop().call_soon_threadsafe(lambda: (busy.set(), release.wait(60)))
        try:
            assert busy.wait(10)
            calls = [export.future(body, metadata=metadata, timeout=60) for _ in range(2500)]
            h.wait_for(lambda: _grpc_server_calls() - started >= 2500, "the calls to arrive")
        finally:
            release.set()
        errors = [call.exception() for call in calls]
    answers = collections.Counter("OK" if e is None else e.code().name for e in errors)
    assert set(answers) <= {"OK", "RESOURCE_EXHAUSTED"}, answers
    for error in filter(None, errors):
        assert dict(error.trailing_metadata())["google.rpc.retryinfo-bin"]


def _grpc_server_calls() -> int:
    """Calls every grpc server of this process has seen arrive, taken by its loop or not
    (channelz, which grpc keeps by default)."""
    servers = json.loads(cygrpc.channelz_get_servers(0))["server"]
    return sum(int(server["data"].get("callsStarted", 0)) for server in servers)


def test_chunked_upload_is_refused_as_soon_as_its_bytes_do_not_fit(h: Any) -> None:
    """A chunked body has no length up front: its chunks are reserved as they arrive, and the
    429 comes while the client is still uploading, not after the body sits in memory."""
    server = ServerConfig(
        grpc_port=0, http_port=0, max_inflight_bytes=64 * 1024, max_message_bytes=64 * 1024
    )
    held = h.make_request(*[h.make_span(i, name="n" * 400) for i in range(1, 100)])
    held_body = held.SerializeToString()
    assert 32 * 1024 < len(held_body) < 64 * 1024
    with h.start_receivers(server) as stack:
        stack.sink.gate = threading.Event()
        first = threading.Thread(
            target=httpx.post, args=(f"{stack.http_url}/v1/traces",),
            kwargs={"content": held_body, "headers": {**PB, "x-glassline-api-key": h.API_KEY},
                    "timeout": 30},
        )  # fmt: skip
        first.start()
        assert stack.sink.entered.wait(10)
        with socket.create_connection(("127.0.0.1", stack.http_port), timeout=10) as sock:
            chunk = b"x" * 40_000  # fits the message limit, not what is left of the budget
            sock.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
                b"x-glassline-api-key: " + h.API_KEY.encode() + b"\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk
                + b"\r\n"
            )  # fmt: skip
            # The rest of the body is never sent: only a refusal mid-stream answers this.
            status_line = sock.makefile("rb").readline()
        stack.sink.gate.set()
        first.join(10)
        h.wait_for(lambda: stack.admission.bytes == 0, "the refused upload to release its bytes")
    assert status_line.startswith(b"HTTP/1.1 429")


def _admission_at_1000_bytes_per_s(
    metrics: Metrics, chance: Callable[[], float] = lambda: 0.0
) -> tuple[Admission, list[float]]:
    """An admission with a 1 s queue-wait budget on a clock the test moves (``now[0]``),
    which has seen 1000 bytes done in 1 s of busy time: a store of 1000 bytes/s. Its early
    refusals draw ``chance`` (by default 0: every early refusal happens)."""
    now = [0.0]
    admission = Admission(
        max_bytes=10**9, max_requests=100, metrics=metrics, max_queue_wait_s=1.0,
        clock=lambda: now[0], chance=chance,
    )  # fmt: skip
    with admission.admit(1000) as done:
        done.start()
        now[0] += 1.0
    return admission, now


def test_queue_wait_refuses_up_front_what_could_not_start_within_the_budget() -> None:
    admission, _ = _admission_at_1000_bytes_per_s(Metrics())
    with admission.admit(400) as first, admission.admit(700) as second:  # 0 s, then 0.4 s
        first.start()
        second.start()
        assert admission.queue_wait_s() == pytest.approx(1.1)
        with pytest.raises(RetryableError) as caught, admission.admit(1):
            pass
    assert caught.value.overloaded and "queue wait" in caught.value.message
    with admission.admit(5000):  # nothing ahead: always admitted, however slow the store
        pass


def test_queue_wait_admits_within_half_the_budget_and_keeps_the_rest_as_margin() -> None:
    """An export estimated to start after half the budget is refused up front; the one
    admitted keeps the whole budget as its deadline, so what the estimate gets wrong (the
    store slowing down, the exports ahead on the busier runner) rarely makes it late."""
    admission, now = _admission_at_1000_bytes_per_s(Metrics())
    with admission.admit(450) as ahead, admission.admit(150) as admitted:
        ahead.start()
        admitted.start()  # 0.45 s ahead of it: within half the budget
        assert admitted.deadline == pytest.approx(now[0] + 1.0)
        assert admission.queue_wait_s() == pytest.approx(0.6)  # under the budget, over half
        with pytest.raises(RetryableError) as caught, admission.admit(1):
            pass
    assert caught.value.overloaded and "queue wait" in caught.value.message


def _admits_one_more(admission: Admission) -> bool:
    """Whether a 1-byte export is admitted now; a refusal must be the queue wait's."""
    try:
        with admission.admit(1):
            return True
    except RetryableError as refused:
        assert refused.overloaded and "queue wait" in refused.message
        return False


@pytest.mark.parametrize(
    ("seconds_ahead", "draw", "admitted"),
    [
        (0.34, 0.0, True),  # under 70% of the half budget: always admitted
        (0.425, 0.49, False),  # halfway to the target: refused with a chance of one half
        (0.425, 0.51, True),
        (0.49, 0.9, False),  # near the target: nearly always refused
        (0.51, 0.999, False),  # past it: always
    ],
)
def test_queue_wait_refuses_early_with_a_chance_rising_to_the_target(
    seconds_ahead: float, draw: float, admitted: bool
) -> None:
    admission, _ = _admission_at_1000_bytes_per_s(Metrics(), chance=lambda: draw)
    with admission.admit(round(seconds_ahead * 1000)) as ahead:
        ahead.start()
        assert _admits_one_more(admission) is admitted


def test_a_request_tested_on_arrival_draws_its_early_refusal_once() -> None:
    """The HTTP protocol tests an export's headers on arrival (refusing there costs no task)
    and the app then admits it: one draw of the chance in all, as for a gRPC export, or HTTP
    exports would be refused more often than gRPC ones in the early-refusal band."""
    draws = iter([0.6])  # halfway to the target: refused below 0.5
    admission, _ = _admission_at_1000_bytes_per_s(Metrics(), chance=lambda: next(draws))
    with admission.admit(425) as ahead:
        ahead.start()
        assert admission.refuse_on_arrival() is None  # drew 0.6: passes
        with admission.admit(1, drawn=True) as admitted:  # no second draw
            admitted.start()
    admission, _ = _admission_at_1000_bytes_per_s(Metrics(), chance=lambda: next(draws))
    with admission.admit(600) as ahead:  # past the target: refused without a draw
        ahead.start()
        refused = admission.refuse_on_arrival()
        assert refused is not None and "queue wait" in refused.message
        with pytest.raises(RetryableError), admission.admit(1, drawn=True):
            pass  # the bounds are tested again


@pytest.mark.parametrize("early_refusals", [False, True])
def test_queue_wait_gives_the_same_odds_to_whoever_asks_first_after_an_export_ends(
    early_refusals: bool,
) -> None:
    """Two clients ask in the same order each time an export finishes (as the receiver loop
    that saw it finish serves its own requests first). A hard threshold gives the freed room
    to the first every time; the early refusals give both about the same share."""
    now = [0.0]
    admission = Admission(
        max_bytes=10**9, max_requests=10**6, metrics=Metrics(), max_queue_wait_s=1.0,
        clock=lambda: now[0], chance=random.Random(7).random if early_refusals else lambda: 1.0,
    )  # fmt: skip
    queued: collections.deque[Any] = collections.deque()
    admitted = {"first": 0, "second": 0}
    for _ in range(3000):
        now[0] += 0.01  # the store finishes one 10-byte export (1000 bytes/s) ...
        if queued:
            queued.popleft().__exit__(None, None, None)
        for client in admitted:  # ... and the two clients ask, in the same order
            request = admission.admit(10)
            try:
                ticket = request.__enter__()
            except RetryableError:
                continue
            ticket.start()
            queued.append(request)
            admitted[client] += 1
        assert admission.queue_wait_s() <= 0.5 + 0.01  # within half the budget throughout
    if early_refusals:
        assert admitted["second"] >= 0.85 * admitted["first"]
    else:
        assert admitted["second"] <= 0.05 * admitted["first"]


@pytest.mark.parametrize(
    ("handed_over", "admitted"),
    [
        (3, True),  # a slot of the four is free: it starts now
        (4, True),  # it waits for one of four 0.4 s exports: 0.4 s, within half the budget
        (5, False),  # for two of them: 0.8 s, over it
    ],
)
def test_queue_wait_counts_the_exports_running_beside_it_as_no_wait(
    handed_over: int, admitted: bool
) -> None:
    """Processing runs ``slots`` exports at once (two runners' two threads each): the next
    export waits only for the exports beyond the other slots. Counted as one queue ahead, the
    three running beside a free slot (1.2 s) had it refused while a runner thread idled."""
    now = [0.0]
    admission = Admission(
        max_bytes=10**9, max_requests=100, metrics=Metrics(), max_queue_wait_s=1.0,
        slots=4, clock=lambda: now[0], chance=lambda: 0.999,  # refused only past the target
    )  # fmt: skip
    with admission.admit(1000) as done:  # a store of 1000 bytes/s
        done.start()
        now[0] += 1.0
    with contextlib.ExitStack() as running:
        for _ in range(handed_over):
            running.enter_context(admission.admit(400)).start()
        assert _admits_one_more(admission) is admitted


def test_queue_wait_counts_only_requests_handed_over_not_uploads_in_progress() -> None:
    """A slow client's body is neither work ahead of the next export nor a slow store."""
    admission, now = _admission_at_1000_bytes_per_s(Metrics())
    with admission.admit(0) as uploading:
        uploading.reserve(5000)  # five seconds of work at that rate, still arriving
        now[0] += 30.0  # ... slowly: no processing happens meanwhile
        assert admission.queue_wait_s() == 0.0
        with admission.admit(900) as next_one:  # admitted: nothing is ahead of it
            next_one.start()
            assert admission.queue_wait_s() == pytest.approx(0.9)


def test_queue_wait_estimate_follows_a_store_that_stalls() -> None:
    now = [0.0]
    admission = Admission(
        max_bytes=10**9, max_requests=100, metrics=Metrics(), max_queue_wait_s=1.0,
        clock=lambda: now[0],
    )  # fmt: skip
    for _ in range(10):
        with admission.admit(1000) as ticket:
            ticket.start()
            now[0] += 0.1  # 10,000 bytes/s
    with admission.admit(1000) as ticket:
        ticket.start()
        assert admission.queue_wait_s() == pytest.approx(0.1)
        now[0] += 30.0  # the store stops answering: the rate estimate decays with busy time
        with pytest.raises(RetryableError), admission.admit(1):
            pass


def test_queue_wait_is_estimated_again_when_a_long_upload_completes() -> None:
    """Admitted while the queue was empty, an upload that ends behind more work than the
    budget is refused then, not queued to answer after its exporter gave up."""
    metrics = Metrics()
    admission, _ = _admission_at_1000_bytes_per_s(metrics)
    # The slow one is admitted with nothing ahead; 1.5 s of work is handed over meanwhile.
    with admission.admit(0) as slow, admission.admit(1500) as meanwhile:
        meanwhile.start()
        slow.reserve(100)
        with pytest.raises(RetryableError) as caught:
            slow.start()
        assert admission.queued_bytes == 1500  # the refused one is not work ahead
    assert caught.value.overloaded
    assert metrics.refused.labels("queue_wait")._value.get() == 1
    assert admission.bytes == admission.requests == admission.queued_bytes == 0


def test_an_upload_admitted_at_arrival_is_refused_at_its_end_only_past_the_whole_budget() -> None:
    """The target (half the budget) was its test at arrival: a slow upload that ends behind
    0.7 s of work is still handed over, where a request arriving then is refused. Held to the
    target a second time, slow clients were accepted a third as often as the others."""
    admission, now = _admission_at_1000_bytes_per_s(Metrics())
    with admission.admit(0) as slow, admission.admit(700) as meanwhile:
        meanwhile.start()
        slow.reserve(100)
        slow.start()
        assert slow.deadline == pytest.approx(now[0] + 1.0)
        assert admission.queued_bytes == 800
        with pytest.raises(RetryableError) as caught, admission.admit(1):
            pass
    assert caught.value.overloaded and "queue wait" in caught.value.message


def test_a_handed_over_export_must_start_within_the_budget() -> None:
    now = [100.0]
    admission = Admission(
        max_bytes=10**9, max_requests=100, metrics=Metrics(), max_queue_wait_s=1.5,
        clock=lambda: now[0],
    )  # fmt: skip
    with admission.admit(10) as ticket:
        now[0] += 2.0  # the upload took a while: the budget counts from the hand-over
        ticket.start()
        assert ticket.deadline == 103.5
    unbounded = Admission(max_bytes=10**9, max_requests=100, metrics=Metrics())
    with unbounded.admit(10) as ticket:
        ticket.start()
        assert ticket.deadline is None


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_an_export_still_waiting_at_its_deadline_is_refused_unrun(h: Any, transport: str) -> None:
    """The admission's clock runs 100 s behind, so every deadline has passed when the
    export is taken: it is answered as overloaded, with a hint, and nothing is consumed."""
    server = ServerConfig(grpc_port=0, http_port=0, retry_after_s=2)
    with h.start_receivers(server, clock=lambda: time.monotonic() - 100) as stack:
        body = h.make_request(h.make_span(1)).SerializeToString()
        if transport == "http":
            reply = httpx.post(f"{stack.http_url}/v1/traces", content=body, timeout=30,
                               headers={**PB, "x-glassline-api-key": h.API_KEY})  # fmt: skip
            assert reply.status_code == 429
            assert reply.headers["retry-after"] == "2"
        else:
            with grpc.insecure_channel(stack.grpc_endpoint) as channel:
                export = channel.unary_unary(EXPORT)
                with pytest.raises(grpc.RpcError) as caught:
                    export(body, metadata=(("x-glassline-api-key", h.API_KEY),), timeout=30)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "google.rpc.retryinfo-bin" in dict(caught.value.trailing_metadata() or ())
        assert stack.sink.batches == []
        assert stack.metrics.refused.labels("queue_wait_expired")._value.get() == 1


def test_the_answer_time_counts_from_the_hand_over_by_outcome() -> None:
    """The collector's side of an export's latency: an upload's own time is not in it."""
    now = [0.0]
    metrics = Metrics()
    admission = Admission(max_bytes=10**9, max_requests=100, metrics=metrics,
                          clock=lambda: now[0])  # fmt: skip
    with admission.admit(10) as ticket:
        now[0] += 30.0  # a slow upload
        ticket.start()
        now[0] += 1.5
    with pytest.raises(RetryableError), admission.admit(10) as ticket:
        ticket.start()
        now[0] += 0.25
        raise RetryableError("the store failed")
    with admission.admit(10):  # never handed over (the client went away): no answer time
        pass
    assert metrics.answer_seconds.labels("ok")._sum.get() == 1.5
    assert metrics.answer_seconds.labels("error")._sum.get() == 0.25
