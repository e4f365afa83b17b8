"""Work spreads over the workers however few connections the clients hold (handoff.py).

The kernel pins each client connection to one worker; these tests send every export over ONE
gRPC connection and check, in the workers' own counters, that both workers ran exports.
The SQLite write lock (a file lock, taken here by the test) holds the first export in its
store step, so the second arrives while the first worker is busy: no timing involved.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import Any

import grpc
import httpx
from sqlalchemy import create_engine, func, select

from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import run_collector

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _runs(collector: Any) -> dict[tuple[str, str], float]:
    """``glassline_exports_run_total`` by (worker, origin), summed over the workers."""
    text = httpx.get(f"{collector.http_endpoint}/metrics", timeout=10).text
    pattern = r'glassline_exports_run_total\{origin="(\w+)",worker="(\d+)"\} ([0-9.e+]+)'
    return {(w, o): float(v) for o, w, v in re.findall(pattern, text)}


def _body(h: Any, n: int, seed: int) -> bytes:
    spans = [h.make_span(i, trace=seed) for i in range(1, n + 1)]
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
        runs = _runs(collector)
        # Both arrived at the worker holding the connection; the second ran on the other one.
        assert {worker for worker, _ in runs} == {"0", "1"}, runs
        assert sorted(origin for _, origin in runs) == ["own", "peer"], runs
        assert _stored(collector.db_url) == 12  # acknowledged means stored, wherever it ran
