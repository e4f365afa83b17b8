"""Work spreads over the workers however few connections the clients hold (handoff.py).

These tests send every export over ONE gRPC connection and check, in the workers' own
counters, that both workers ran exports (with the ports shared through SO_REUSEPORT, the
kernel pinned a connection, and all its exports, to one worker).
The SQLite write lock (a file lock, taken here by the test) holds the first export in its
store step, so the second arrives while the first worker is busy: no timing involved.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
from sqlalchemy import create_engine, func, select

from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import run_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _runs(collector: Any) -> dict[str, float]:
    """``glassline_exports_run_total`` by worker, summed over the processes."""
    text = httpx.get(f"{collector.http_endpoint}/metrics", timeout=10).text
    pattern = r'glassline_exports_run_total\{worker="(\d+)"\} ([0-9.e+]+)'
    return {worker: float(n) for worker, n in re.findall(pattern, text)}


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
        line = next(x for x in collector.logs().splitlines() if "started 2 workers" in x)
        runners = [int(p) for p in re.findall(r"\d+", line.split("workers:")[1].split(";")[0])]
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
