"""Re-record what a peer library really exports, for the fast tests in test_recorded.py.

    .venv/bin/python -m tests.peers.record langfuse    # writes tests/peers/recorded/langfuse.json

Runs the library's app (in its venv, against the fake provider) with its exporter pointed at a
loopback capture server instead of the collector, and keeps every trace export request as
OTLP JSON.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from . import venvs
from .runs import RUNS

RECORDED = Path(__file__).resolve().parent / "recorded"
APPS = Path(__file__).resolve().parent / "apps"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer  # noqa: E402


def capture(run_name: str) -> list[dict[str, object]]:
    run = next(r for r in RUNS if r.name == run_name)
    requests: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.endswith("/v1/traces"):
                requests.append(MessageToDict(ExportTraceServiceRequest.FromString(body)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    provider = FakeLLMServer(rate_limit_failures=0).start()
    try:
        python = venvs.ensure(run.venv)
        env = {
            **os.environ,
            "PEER_FAKE_URL": provider.base_url,
            "PEER_HTTP": f"http://127.0.0.1:{server.server_address[1]}",
            "PEER_GRPC": "127.0.0.1:9",  # unused by the HTTP apps
            "PEER_KEY": "gl_recorded",
            **run.env,
        }
        done = subprocess.run(
            [str(python), str(APPS / f"peer_{run.app}.py"), *run.args],
            env=env, cwd=APPS, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
    finally:
        provider.stop()
        server.shutdown()
        server.server_close()
    return requests


def main(names: list[str]) -> None:
    for name in names:
        RECORDED.mkdir(exist_ok=True)
        path = RECORDED / f"{name}.json"
        path.write_text(json.dumps(capture(name), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
