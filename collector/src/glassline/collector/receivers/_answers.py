"""How the HTTP front writes an answer: one start and one body message, the headers
Starlette's Response would set, and an error in the request's encoding (a ``google.rpc.Status``
in protobuf or JSON, with ``Retry-After`` when it is retryable)."""

from __future__ import annotations

import json
import math

from google.rpc.status_pb2 import Status
from starlette.responses import Response
from starlette.types import Send

from glassline.collector.errors import GlasslineError, RetryableError
from glassline.collector.receivers._ingest import Encoding

__all__ = ["Answer", "answer_headers", "error_parts", "error_response", "send_answer", "send_error"]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, headers, body


def error_response(exc: GlasslineError, encoding: Encoding) -> Response:
    body, content_type, retry_after = error_parts(exc, encoding)
    headers = {"Retry-After": retry_after.decode()} if retry_after else {}
    return Response(body, exc.http_status, headers, content_type.decode())


async def send_error(send: Send, exc: GlasslineError, encoding: Encoding) -> None:
    """:func:`error_response`'s answer, sent without building a Response."""
    body, content_type, retry_after = error_parts(exc, encoding)
    await send_answer(send, exc.http_status, body, content_type, retry_after)


def error_parts(exc: GlasslineError, encoding: Encoding) -> tuple[bytes, bytes, bytes | None]:
    """Body, Content-Type and Retry-After (None unless retryable) of ``exc``'s answer."""
    retry_after = None
    if isinstance(exc, RetryableError):
        retry_after = str(max(1, math.ceil(exc.retry_after_s))).encode()
    code = exc.grpc_code.value[0]
    if encoding == "protobuf":
        body = Status(code=code, message=exc.message).SerializeToString()
        return body, b"application/x-protobuf", retry_after
    return (
        json.dumps({"code": code, "message": exc.message}).encode(),
        b"application/json",
        retry_after,
    )


async def send_answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | None,
    retry_after: bytes | None = None,
) -> None:
    """One answer as one start and one body message."""
    headers = answer_headers(body, content_type, retry_after)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def answer_headers(
    body: bytes, content_type: bytes | None, retry_after: bytes | None
) -> list[tuple[bytes, bytes]]:
    """An answer's headers, those Starlette's Response sets."""
    headers = [(b"retry-after", retry_after)] if retry_after is not None else []
    headers.append((b"content-length", str(len(body)).encode()))
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return headers
