"""A fake OpenAI + Anthropic HTTP API on a free loopback port, for the real client libraries.

Chat completions (JSON and SSE), the Responses API (JSON and SSE), embeddings (8 input
tokens per input) and Anthropic messages (JSON and SSE). Usage numbers are fixed per endpoint so tests can check extraction:
chat/Responses report 120 input tokens of which 20 cached; Anthropic reports 30 non-cached
input, 40 cache read and 50 cache creation tokens. The model ``"rate-limited"`` answers
429 with ``retry-after: 0`` the first ``rate_limit_failures`` times.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TEXT = ["Hello", " from", " fake"]


def chat_completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "".join(TEXT)},
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 20},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    }


def chat_chunks(model: str, include_usage: bool) -> Iterator[dict[str, Any]]:
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model}
    for i, text in enumerate(TEXT):
        delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if include_usage:
        yield {**base, "choices": [], "usage": chat_completion(model)["usage"]}


def response_object(model: str) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "".join(TEXT), "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 120,
            "output_tokens": 30,
            "total_tokens": 150,
            "input_tokens_details": {"cached_tokens": 20},
            "output_tokens_details": {"reasoning_tokens": 5},
        },
    }


def response_events(model: str) -> Iterator[dict[str, Any]]:
    created = {**response_object(model), "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": 0, "response": created}
    for i, text in enumerate(TEXT):
        yield {
            "type": "response.output_text.delta",
            "sequence_number": i + 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": text,
            "logprobs": [],
        }
    yield {"type": "response.completed", "sequence_number": 9, "response": response_object(model)}


def embedding_list(model: str, inputs: Any) -> dict[str, Any]:
    count = len(inputs) if isinstance(inputs, list) else 1
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)
        ],
        "usage": {"prompt_tokens": 8 * count, "total_tokens": 8 * count},
    }


ANTHROPIC_USAGE = {
    "input_tokens": 30,
    "output_tokens": 25,
    "cache_read_input_tokens": 40,
    "cache_creation_input_tokens": 50,
}


def anthropic_message(model: str) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "".join(TEXT)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def anthropic_events(model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    start = {**anthropic_message(model), "content": [], "stop_reason": None}
    start["usage"] = {**ANTHROPIC_USAGE, "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        },
    )
    for text in TEXT:
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 25},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class FakeLLMServer:
    """Thread-based server; ``base_url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, rate_limit_failures: int = 2) -> None:
        self.rate_limit_failures = rate_limit_failures
        self.rate_limited_calls = 0
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                server.requests.append(body)
                server.dispatch(self, self.path, body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def dispatch(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        if model == "rate-limited" and self.rate_limited_calls < self.rate_limit_failures:
            self.rate_limited_calls += 1
            error = {"error": {"message": "slow down", "type": "rate_limit", "code": "429"}}
            return _json(h, error, status=429, headers={"retry-after": "0"})
        stream = bool(body.get("stream"))
        if path.endswith("/chat/completions"):
            if stream:
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                return _sse(h, ((None, c) for c in chat_chunks(model, include)), done=True)
            return _json(h, chat_completion(model))
        if path.endswith("/responses"):
            if stream:
                return _sse(h, ((e["type"], e) for e in response_events(model)))
            return _json(h, response_object(model))
        if path.endswith("/embeddings"):
            return _json(h, embedding_list(model, body.get("input")))
        if path.endswith("/messages"):
            if stream:
                return _sse(h, anthropic_events(model))
            return _json(h, anthropic_message(model))
        return _json(h, {"error": {"message": f"no route {path}"}}, status=404)


def _json(
    h: BaseHTTPRequestHandler,
    payload: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    h.send_response(status)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(data)


def _sse(
    h: BaseHTTPRequestHandler, events: Iterator[tuple[str | None, Any]], done: bool = False
) -> None:
    h.send_response(200)
    h.send_header("content-type", "text/event-stream")
    h.send_header("connection", "close")
    h.end_headers()
    for name, payload in events:
        prefix = f"event: {name}\n" if name else ""
        h.wfile.write(f"{prefix}data: {json.dumps(payload)}\n\n".encode())
        h.wfile.flush()
    if done:
        h.wfile.write(b"data: [DONE]\n\n")
    h.wfile.flush()
    h.close_connection = True
