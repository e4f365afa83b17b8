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
FLOOD_BYTES = 256 << 20


class Receiver:
    """A webhook endpoint on a free loopback port that records every JSON body it gets.

    ``mode``: ``ok`` answers 200; ``fail`` answers 500; ``fail-once`` 500 to its first
    request and 200 to the others; ``moved`` 301; ``hang`` never answers until
    ``release`` is set (the test's teardown sets it); ``hold`` answers the first request 200
    once ``release`` is set, and the others at once; ``drip`` sends its status line a byte
    every 50 ms, so no single read waits long, until ``release``; ``flood`` answers 200 with
    an endless body, up to ``FLOOD_BYTES`` (``flood-fail`` the same with 500), and records in ``flooded`` how much it sent
    before the client went away.
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = threading.Condition()
        self.release = threading.Event()
        self.flooded: int | None = None
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
                if receiver.mode == "hold" and body is receiver.bodies[0]:
                    receiver.release.wait(30)
                if receiver.mode == "drip":
                    for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                        if receiver.release.wait(0.05):
                            return
                        self.wfile.write(bytes([byte]))
                    return
                if receiver.mode in ("flood", "flood-fail"):
                    self._flood(500 if receiver.mode == "flood-fail" else 200)
                    return
                codes = {"fail": 500, "moved": 301}
                if receiver.mode == "fail-once" and body is receiver.bodies[0]:
                    codes["fail-once"] = 500
                self.send_response(codes.get(receiver.mode, 200))
                self.send_header("content-length", "0")
                self.end_headers()

            def _flood(self, status: int) -> None:
                head = b"HTTP/1.1 %d Flood\r\ntransfer-encoding: chunked\r\n\r\n" % status
                self.wfile.write(head)
                chunk = b"%x\r\n%s\r\n" % (1 << 16, b"x" * (1 << 16))
                sent = 0
                try:
                    while sent < FLOOD_BYTES:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:  # the client closed the connection
                    pass
                with receiver.arrived:
                    receiver.flooded = sent
                    receiver.arrived.notify_all()

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

    def wait_flooded(self, timeout: float = 30.0) -> int:
        """The bytes of body a ``flood`` receiver sent before the client closed (bounded wait)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.flooded is not None, timeout):
                raise AssertionError("the flood never stopped")
            assert self.flooded is not None
            return self.flooded

    def groups(self) -> list[tuple[str, ...]]:
        """The (status, group label values...) of every alert message received, in order."""
        with self.arrived:
            return [
                (b["status"], *b["group_labels"].values())
                for b in self.bodies
                if b.get("type") == "alert"
            ]

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
