"""Test helpers for alerting: a real webhook receiver and a span factory."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from glassline.collector.records import SpanRecord

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


class Receiver:
    """A webhook endpoint on a free loopback port that records every JSON body it gets.

    ``mode``: ``ok`` answers 200; ``fail`` answers 500; ``hang`` never answers until
    ``release`` is set (the test's teardown sets it).
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = threading.Condition()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with receiver.arrived:
                    receiver.bodies.append(body)
                    receiver.headers.append(dict(self.headers))
                    receiver.arrived.notify_all()
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                self.send_response(500 if receiver.mode == "fail" else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` bodies, waiting (bounded) until they have arrived."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.bodies)}")
            return list(self.bodies[:count])

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def make_span(
    tenant: str,
    at: datetime,
    *,
    kind: str = "llm",
    duration_ms: float = 100.0,
    parent: str | None = "00000000000000aa",
    **fields: Any,
) -> SpanRecord:
    """A span of ``kind`` starting at ``at``; ``fields`` set SpanRecord's typed fields."""
    start = int(at.timestamp() * 1e9)
    return SpanRecord(
        tenant=tenant,
        trace_id=secrets.token_hex(16),
        span_id=secrets.token_hex(8),
        name=f"{kind} span",
        start_ns=start,
        end_ns=start + int(duration_ms * 1e6),
        parent_span_id=parent,
        kind=kind,
        **fields,
    )
