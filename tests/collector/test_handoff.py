"""Work spreads over the workers however few connections the clients hold (handoff.py).

These tests send every export over ONE gRPC connection and check, in the workers' own
counters, that both workers ran exports (with the ports shared through SO_REUSEPORT, the
kernel pinned a connection, and all its exports, to one worker).
The SQLite write lock (a file lock, taken here by the test) holds the first export in its
store step, so the second arrives while the first worker is busy: no timing involved.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import socket
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy import create_engine, func, select

from glassline.collector._aio import run_on_loop, the_loop
from glassline.collector._channel import SILENT_AFTER_S
from glassline.collector._export_pool import ExportPool
from glassline.collector.auth import Principal
from glassline.collector.errors import PermanentError, RetryableError
from glassline.collector.handoff import Front, Mesh, Runner
from glassline.collector.metrics import Metrics
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import metric_by_label, run_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _runs(collector: Any) -> dict[str, float]:
    """Exports run, by worker, summed over the processes."""
    return metric_by_label(collector.http_endpoint, "glassline_exports_run_total", "worker")


def _body(h: Any, n: int, seed: int) -> bytes:
    now = time.time_ns()  # recent: the retention job, which may run meanwhile, keeps them
    spans = [h.make_span(i, trace=seed, start_time_unix_nano=now, end_time_unix_nano=now + 1000)
             for i in range(1, n + 1)]  # fmt: skip
    return bytes(h.make_request(*spans).SerializeToString())


def _stored(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(SpanRow)) or 0)
    finally:
        engine.dispose()


def test_exports_on_one_connection_run_on_both_workers(tmp_path: Path, h: Any) -> None:
    config = {"server": {"workers": 2}, "redaction": None}
    with run_collector(config, workdir=tmp_path) as collector:
        lock_path = collector.db_url.removeprefix("sqlite:///") + ".write-lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        metadata = (("x-glassline-api-key", collector.api_key),)
        with grpc.insecure_channel(collector.grpc_endpoint) as channel:  # one connection
            export = channel.unary_unary(EXPORT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # every store step now waits for the test
                first = export.future(_body(h, 5, 1), metadata=metadata, timeout=120)
                h.wait_for(lambda: sum(_runs(collector).values()) == 1, "the first export", 60)
                second = export.future(_body(h, 7, 2), metadata=metadata, timeout=120)
                h.wait_for(lambda: sum(_runs(collector).values()) == 2, "the second export", 60)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            first.result()
            second.result()
        # Both arrived over one connection; the second ran on the worker that was free.
        assert _runs(collector) == {"0": 1.0, "1": 1.0}
        assert _stored(collector.db_url) == 12  # acknowledged means stored, wherever it ran


def test_a_runner_that_dies_fails_its_exports_as_retryable(tmp_path: Path, h: Any) -> None:
    config = {"server": {"workers": 2}, "redaction": None}
    with run_collector(config, workdir=tmp_path) as collector:
        runners, _ = collector.workers()
        lock_path = collector.db_url.removeprefix("sqlite:///") + ".write-lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        metadata = (("x-glassline-api-key", collector.api_key),)
        with grpc.insecure_channel(collector.grpc_endpoint) as channel:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # the export waits in its store step
                pending = channel.unary_unary(EXPORT).future(
                    _body(h, 5, 1), metadata=metadata, timeout=120
                )
                h.wait_for(lambda: sum(_runs(collector).values()) == 1, "the export to run", 60)
                (worker,) = _runs(collector)
                os.kill(runners[int(worker)], signal.SIGKILL)  # mid-export, before its commit
                error = pending.exception()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        # Not acknowledged, and the client is told to send it again.
        assert isinstance(error, grpc.RpcError)
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        trailers = dict(error.trailing_metadata() or ())
        assert "google.rpc.retryinfo-bin" in trailers
        assert _stored(collector.db_url) == 0


def test_a_stopped_runner_is_routed_around_and_its_export_refused_with_a_hint(
    tmp_path: Path, h: Any
) -> None:
    """A SIGSTOPped runner held what it was handed until the client's timeout, and kept being
    handed more. Now its export is refused with the retry hint a moment past its deadline,
    the next ones go to the other runner, and it gets exports again once it answers (it
    refuses the stale one unrun: nothing is stored twice, nothing acknowledged is lost)."""
    config = {"server": {"workers": 2}, "redaction": None}
    with run_collector(config, workdir=tmp_path) as collector:
        runners, _ = collector.workers()
        metadata = (("x-glassline-api-key", collector.api_key),)
        with grpc.insecure_channel(collector.grpc_endpoint) as channel:
            export = channel.unary_unary(EXPORT)
            os.kill(runners[0], signal.SIGSTOP)  # the first chosen while both are idle
            try:
                with pytest.raises(grpc.RpcError) as refused:
                    export(_body(h, 5, 1), metadata=metadata, timeout=60)
                export(_body(h, 7, 2), metadata=metadata, timeout=60)  # the other runner
                while_stopped = _runs(collector)
            finally:
                os.kill(runners[0], signal.SIGCONT)
            singles = []  # one span each, until one runs on the resumed runner

            def ran_on_the_first() -> bool:
                singles.append(export(_body(h, 1, 3 + len(singles)), metadata=metadata,
                                      timeout=60))  # fmt: skip
                return _runs(collector).get("0", 0.0) > 0

            h.wait_for(ran_on_the_first, "an export on the resumed runner", 60)
            export(_body(h, 5, 1), metadata=metadata, timeout=60)  # the client's resend
            sent = 5 + 7 + len(singles)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
    assert "google.rpc.retryinfo-bin" in dict(refused.value.trailing_metadata() or ())
    assert while_stopped == {"1": 1.0}  # the stopped runner ran nothing, and got no more
    assert _stored(collector.db_url) == sent  # the refused export once, from its resend


def test_the_front_refuses_with_a_hint_while_every_runner_is_busy(tmp_path: Path, h: Any) -> None:
    """Refusals come from the front's admission, not after export work: both runners are
    held in their store step, and the refused exports are answered without any runner
    running them, the HTTP one before its body was even sent."""
    config = {"server": {"workers": 2, "max_inflight_requests": 2}, "redaction": None}
    with run_collector(config, workdir=tmp_path) as collector:
        lock_path = collector.db_url.removeprefix("sqlite:///") + ".write-lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        metadata = (("x-glassline-api-key", collector.api_key),)
        with grpc.insecure_channel(collector.grpc_endpoint) as channel:
            export = channel.unary_unary(EXPORT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = [export.future(_body(h, 3, seed), metadata=metadata, timeout=120)
                        for seed in (1, 2)]  # fmt: skip
                h.wait_for(lambda: sum(_runs(collector).values()) == 2, "both runners busy", 60)
                with pytest.raises(grpc.RpcError) as refused:
                    export(_body(h, 3, 3), metadata=metadata, timeout=60)
                with socket.create_connection(("127.0.0.1", collector.http_port), 30) as sock:
                    sock.sendall(
                        b"POST /v1/traces HTTP/1.1\r\nHost: t\r\n"
                        b"Content-Type: application/x-protobuf\r\nContent-Length: 100000\r\n"
                        b"x-glassline-api-key: " + collector.api_key.encode() + b"\r\n\r\n"
                    )  # the body never comes: only an answer before it can end this read
                    reply = sock.makefile("rb")
                    lines = iter(reply.readline, b"\r\n")  # the status line and headers
                    head = b"".join(lines).decode("latin-1").lower()
                busy_runs = _runs(collector)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            for future in held:
                future.result()
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "google.rpc.retryinfo-bin" in dict(refused.value.trailing_metadata() or ())
    assert head.startswith("http/1.1 429") and "retry-after:" in head
    assert busy_runs == {"0": 1.0, "1": 1.0}  # no runner ran the refused exports
    assert _stored(collector.db_url) == 6


class _OneProcessMesh(Mesh):
    """Both ends of one runner's channel in this process (the supervisor forks instead)."""

    def front(self) -> dict[int, socket.socket]:
        return {0: self._pairs[0][0]}

    def runner(self, index: int) -> socket.socket:
        return self._pairs[index][1]


class _Recording:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any:
        self.bodies.append(body)
        return None

    def reply(self, result: Any) -> ExportTraceServiceResponse:
        return ExportTraceServiceResponse()


def test_the_deadline_travels_to_the_runner_which_refuses_a_late_export_unrun() -> None:
    mesh = _OneProcessMesh(1)
    exporter, metrics = _Recording(), Metrics()
    runner = Runner({"traces": exporter}, 1, metrics, index=0, mesh=mesh, retry_after_s=3)
    front = Front(mesh)
    runner.open()
    try:

        def run(body: bytes, deadline: float) -> Any:
            return asyncio.run(
                front.run("traces", "grpc", Principal("acme"), body, "protobuf", deadline)
            )

        with pytest.raises(RetryableError) as late:
            run(b"late", time.monotonic() - 1)
        assert isinstance(run(b"in time", time.monotonic() + 3600), ExportTraceServiceResponse)
    finally:
        front.close(1)
        runner.close(5)
    assert late.value.overloaded and late.value.retry_after_s == 3
    assert exporter.bodies == [b"in time"]
    assert metrics.refused.labels("queue_wait_expired")._value.get() == 1


class _Blocking(_Recording):
    """Holds its export's thread until released, so every thread of a runner is busy."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any:
        self.started.set()
        assert self.release.wait(60)
        return super().export(transport, principal, body, encoding)


def test_an_export_queued_past_its_deadline_is_refused_while_every_thread_is_still_busy() -> None:
    mesh = _OneProcessMesh(1)
    exporter, metrics = _Blocking(), Metrics()
    runner = Runner({"traces": exporter}, 1, metrics, index=0, mesh=mesh, retry_after_s=3)
    front = Front(mesh)
    runner.open()

    async def scenario() -> BaseException | None:
        busy = asyncio.ensure_future(
            front.run("traces", "grpc", Principal("acme"), b"busy", "protobuf", None)
        )
        await asyncio.to_thread(exporter.started.wait, 60)
        late = front.run("traces", "grpc", Principal("acme"), b"late", "protobuf", 0.0)
        try:
            await asyncio.wait_for(late, 60)  # answered although the only thread is busy
        except RetryableError as refused:
            error: BaseException | None = refused
        else:
            error = None
        assert not busy.done()
        exporter.release.set()
        await busy
        return error

    try:
        refused = asyncio.run(scenario())
    finally:
        exporter.release.set()
        front.close(1)
        runner.close(5)
    assert isinstance(refused, RetryableError) and refused.overloaded
    assert exporter.bodies == [b"busy"]
    assert metrics.refused.labels("queue_wait_expired")._value.get() == 1


def test_an_export_the_runner_took_is_waited_for_past_its_deadline() -> None:
    """The front refuses an export a silent runner has said nothing of; one it took may be
    committing, and is waited for however long it runs (its runner is not taken for silent)."""
    mesh = _OneProcessMesh(1)
    exporter = _Blocking()
    runner = Runner({"traces": exporter}, 1, Metrics(), index=0, mesh=mesh)
    front = Front(mesh)
    runner.open()

    async def scenario() -> tuple[bool, Any]:
        deadline = time.monotonic() + 0.05
        busy = asyncio.ensure_future(
            front.run("traces", "grpc", Principal("acme"), b"busy", "protobuf", deadline)
        )
        await asyncio.to_thread(exporter.started.wait, 60)
        # A timer on the channel's loop after the front's for this export: once it has
        # fired, so would the front's have (timers fire in the order of their times).
        passed, loop = threading.Event(), the_loop()
        later = deadline + SILENT_AFTER_S + 0.01
        loop.call_soon_threadsafe(lambda: loop.call_at(later, passed.set))
        await asyncio.to_thread(passed.wait, 60)
        waited = not busy.done() and front.can_store()
        exporter.release.set()
        return waited, await busy

    try:
        waited, reply = asyncio.run(scenario())
    finally:
        exporter.release.set()
        front.close(1)
        runner.close(5)
    assert waited
    assert isinstance(reply, ExportTraceServiceResponse)


def test_exports_are_handed_over_from_the_grpc_loop_and_from_any_other_loop() -> None:
    """The channels live on the gRPC loop: an export from it is sent and answered there, one
    from another loop (the HTTP server's) crosses to it and back; both reach the runner."""
    mesh = _OneProcessMesh(1)
    exporter = _Recording()
    runner = Runner({"traces": exporter}, 2, Metrics(), index=0, mesh=mesh)
    front = Front(mesh)
    runner.open()

    async def export(body: bytes) -> Any:
        return await front.run("traces", "grpc", Principal("acme"), body, "protobuf", None)

    try:
        on_grpc_loop = run_on_loop(export(b"from the gRPC loop"))
        elsewhere = asyncio.run(export(b"from another loop"))
    finally:
        front.close(1)
        runner.close(5)
    assert isinstance(on_grpc_loop, ExportTraceServiceResponse)
    assert isinstance(elsewhere, ExportTraceServiceResponse)
    assert sorted(exporter.bodies) == [b"from another loop", b"from the gRPC loop"]


class _HoldingAll(_Recording):
    """Holds every export's thread until released; ``wait_started`` for how many run."""

    def __init__(self) -> None:
        super().__init__()
        self.changed, self.release = threading.Condition(), threading.Event()

    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any:
        with self.changed:
            super().export(transport, principal, body, encoding)
            self.changed.notify_all()
        assert self.release.wait(60)

    def wait_started(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.bodies) >= n, 60)


def test_a_runner_that_closes_its_channel_fails_what_it_held_from_every_loop() -> None:
    """Exports waiting for their reply, sent from the gRPC loop and from another, fail as
    retryable when the runner's end closes, and the runner is no longer chosen."""
    mesh = _OneProcessMesh(1)
    exporter = _HoldingAll()
    runner = Runner({"traces": exporter}, 2, Metrics(), index=0, mesh=mesh)
    front = Front(mesh)
    runner.open()

    async def export(body: bytes) -> BaseException | None:
        try:
            await front.run("traces", "grpc", Principal("acme"), body, "protobuf", None)
        except RetryableError as exc:
            return exc
        return None

    async def scenario() -> list[BaseException | None]:
        held = [
            asyncio.wrap_future(asyncio.run_coroutine_threadsafe(export(b"grpc"), the_loop())),
            asyncio.ensure_future(export(b"other")),
        ]
        await asyncio.to_thread(exporter.wait_started, 2)
        mesh.runner(0).shutdown(socket.SHUT_RDWR)  # the runner's end goes away mid-export
        return list(await asyncio.gather(*held))

    try:
        errors = asyncio.run(scenario())
    finally:
        exporter.release.set()
        front.close(1)
        runner.close(5)
    assert all(isinstance(e, RetryableError) and "stopped" in str(e) for e in errors), errors
    assert not front.can_store()


def test_an_exports_body_is_in_memory_once_on_its_way_to_the_runner() -> None:
    """The front gives the body to the channel in pieces as the socket drains (asyncio copied
    what the socket did not take into its buffer), and the runner receives it straight into
    the bytes it runs (it received into a bytearray and copied that): 24 MB of copies for an
    8 MB body in flight, none of them counted by admission."""
    mesh = _OneProcessMesh(1)
    exporter = _Recording()
    runner = Runner({"traces": exporter}, 1, Metrics(), index=0, mesh=mesh)
    front = Front(mesh)
    runner.open()
    body = b"\x0a" * (8 << 20)
    tracemalloc.start()
    try:
        run_on_loop(front.run("traces", "grpc", Principal("acme"), body, "protobuf", None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        front.close(1)
        runner.close(5)
    assert exporter.bodies == [body]
    assert peak < 1.5 * len(body), peak  # the runner's one copy, and a piece or two


class _Unreadable(_Recording):
    def export(self, transport: str, principal: Principal, body: bytes, encoding: Any) -> Any:
        raise PermanentError("request body is not a valid ExportTraceServiceRequest")


def test_an_export_that_fails_lets_go_of_its_body_once_answered() -> None:
    """Its error holds the frames that hold the body; the pool kept each job until its
    deadline, so every unreadable 8 MB export stayed in its runner for the queue-wait
    budget, and a flood of them held hundreds of MB there."""
    pool = ExportPool({"traces": _Unreadable()}, 1, Metrics(), 0, retry_after_s=1.0)
    body = b"\x0a" * 1000
    held = sys.getrefcount(body)
    try:
        future = pool.submit("traces", "grpc", Principal("acme"), body, "protobuf",
                             time.monotonic() + 3600)  # fmt: skip
        assert isinstance(future.exception(60), PermanentError)
        del future
    finally:
        pool.shutdown()  # its thread is done with the export's frames
    assert sys.getrefcount(body) == held
