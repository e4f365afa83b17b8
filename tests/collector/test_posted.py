"""posted.py: a query API body is read no further than its limit, chunked or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request

from glassline.collector.posted import BadBody, json_body


def _request(chunks: Iterator[bytes], headers: dict[str, str] | None = None) -> Request:
    """A request whose body arrives as ``chunks`` (each read counted by the iterator)."""

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    scope = {
        "type": "http", "method": "POST", "path": "/api/v1/evaluations",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }  # fmt: skip
    return Request(scope, receive)


def test_a_chunked_body_past_the_limit_stops_being_read_at_the_limit() -> None:
    read = []

    def chunks() -> Iterator[bytes]:
        for _ in range(10_000):  # 640 MB, were it all read
            read.append(1)
            yield b"x" * 65_536

    with pytest.raises(BadBody) as caught:
        asyncio.run(json_body(_request(chunks()), limit=200_000))
    assert (caught.value.status, caught.value.message) == (413, "body over 200000 bytes")
    assert len(read) == 4  # the read that crossed the limit is the last


def test_a_declared_length_past_the_limit_is_refused_before_any_read() -> None:
    def never() -> Iterator[bytes]:
        raise AssertionError("read a body whose length was already too large")
        yield b""

    request = _request(never(), {"content-length": "200001"})
    with pytest.raises(BadBody, match="body over 200000 bytes"):
        asyncio.run(json_body(request, limit=200_000))


@pytest.mark.parametrize("raw", [b"{nope", b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(BadBody) as caught:
        asyncio.run(json_body(_request(iter([raw]))))
    assert (caught.value.status, caught.value.message) == (400, "body is not JSON")


def test_a_body_in_chunks_is_parsed_whole_and_an_empty_one_is_none() -> None:
    assert asyncio.run(json_body(_request(iter([b'{"tenant": "ac', b'me"}'])))) == {
        "tenant": "acme"
    }
    assert asyncio.run(json_body(_request(iter([])))) is None
