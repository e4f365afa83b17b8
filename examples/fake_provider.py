"""A local HTTP server that answers like the OpenAI API, for demos and tests (no internet here).

It serves ``POST /v1/chat/completions`` (plain and ``stream: true`` server-sent events) with
usage figures that look real, and misbehaves on purpose so instrumentation has something to
record: a configurable share of requests get ``429`` with ``Retry-After``, and a share of the
requests to the models named in ``outages`` get ``503`` (so callers fall back to another model).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ProviderBehaviour:
    rate_limit_share: float = 0.0  # share of requests answered 429
    outages: dict[str, float] = field(default_factory=dict)  # model -> share answered 503
    latency_s: tuple[float, float] = (0.0, 0.0)  # uniform range per request
    seed: int = 7
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (an app being stopped) is not an error worth a trace."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """Runs the fake provider on a free loopback port in a background thread."""

    def __init__(self, behaviour: ProviderBehaviour | None = None, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour or ProviderBehaviour()
        self.requests = 0
        self._lock = threading.Lock()
        self._server = _QuietServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def decide(self, model: str) -> int:
        """HTTP status for the next request to ``model``."""
        with self._lock:
            self.requests += 1
            if self.behaviour.rng.random() < self.behaviour.outages.get(model, 0.0):
                return 503
            if self.behaviour.rng.random() < self.behaviour.rate_limit_share:
                return 429
            return 200


def completion_body(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
    prompt_tokens = max(8, prompt_chars // 4)
    cached = (prompt_tokens * 3 // 5) // 16 * 16  # the repeated system prefix, in cache blocks
    answer = _answer_for(messages)
    completion_tokens = max(1, len(answer) // 4)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _dated(model),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _dated(model: str) -> str:
    return {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}.get(
        model, model
    )


def _answer_for(messages: list[dict[str, Any]]) -> str:
    question = str(messages[-1].get("content", "")) if messages else ""
    return (
        "Based on the retrieved documents, here is a concise answer. "
        f"You asked about: {question[:160]}. The key points are summarised above; "
        "see the cited sources for details."
    )


def _stream_chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    text = body["choices"][0]["message"]["content"]
    words = text.split(" ")
    base = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [
        base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    ]
    for i in range(0, len(words), 4):
        piece = " ".join(words[i : i + 4]) + " "
        chunks.append(base | {"choices": [{"index": 0, "delta": {"content": piece}}]})
    chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append(base | {"choices": [], "usage": body["usage"]})
    return chunks


def _handler_for(provider: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep demo output clean
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send_json(
                    400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}}
                )
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"unknown path {self.path}"}})
                return
            model = str(request.get("model", "gpt-4o-mini"))
            low, high = provider.behaviour.latency_s
            if high > 0:
                time.sleep(provider.behaviour.rng.uniform(low, high))
            status = provider.decide(model)
            if status == 429:
                self._send_json(
                    429,
                    _error("Rate limit reached, retry shortly.", "rate_limit_exceeded"),
                    {"Retry-After": "0.05"},
                )
            elif status == 503:
                self._send_json(503, _error(f"{model} is overloaded.", "server_error"))
            elif request.get("stream"):
                self._send_stream(completion_body(model, request.get("messages", [])))
            else:
                self._send_json(200, completion_body(model, request.get("messages", [])))

        def _send_json(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, body: dict[str, Any]) -> None:
            payload = (
                "".join(f"data: {json.dumps(c)}\n\n" for c in _stream_chunks(body))
                + "data: [DONE]\n\n"
            )
            data = payload.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}
