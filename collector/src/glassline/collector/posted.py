"""The JSON body posted to the query API, read no further than its limit.

Starlette's ``request.body()`` keeps the whole body before anyone looks at its size: four
concurrent 300 MB posts took a collector from 560 MB to 1.7 GB, past the bound its export
path keeps (admission reserves an export's bytes as they arrive). The query API's bodies are
small (an evaluation, a kill switch), so past ``limit`` reading stops and the answer is 413;
the HTTP protocol drops the rest of an answered request's body as it arrives.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from glassline.redaction import jsontext

__all__ = ["MAX_POSTED_BYTES", "BadBody", "json_body"]

MAX_POSTED_BYTES = 64 * 1024


class BadBody(Exception):
    """A body the API does not take: :attr:`status` (400 or 413) and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: Request, limit: int = MAX_POSTED_BYTES) -> Any:
    """The request's JSON document (None for an empty body); raises :class:`BadBody`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadBody(413, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked or not, never more than limit + one read
        size += len(chunk)
        if size > limit:
            raise BadBody(413, f"body over {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return jsontext.parse(raw.decode("utf-8")) if raw else None
    except ValueError:  # not UTF-8, not JSON, or nested too deep
        raise BadBody(400, "body is not JSON") from None
