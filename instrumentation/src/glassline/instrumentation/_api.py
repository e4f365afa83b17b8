"""GET a JSON answer from the collector's query API, bounded whole by one deadline and in size.

urllib's timeout bounds each socket operation, not the request: an answer that dripped a
byte at a time (a proxy, a wrong URL serving a stream) held the caller for as long as it
dripped, and the body was read whole whatever its size (1 GB took the app to 2 GB).
``budget_status()`` runs on the app's thread, so here every read after the connection is
made waits at most until the deadline, and the body is read up to ``max_bytes``.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
import urllib.request
from typing import Any

from glassline.instrumentation.setup import API_KEY_HEADER

__all__ = ["MAX_ANSWER_BYTES", "AnswerTooLarge", "get_json"]

MAX_ANSWER_BYTES = 64 << 20


class AnswerTooLarge(ValueError):
    """The collector's answer was larger than the caller takes."""


def get_json(
    url: str, *, api_key: str | None, timeout_s: float, max_bytes: int = MAX_ANSWER_BYTES
) -> Any:
    """The JSON at ``url``; raises on a failure, a timeout (of the whole request) or a body
    over ``max_bytes``."""
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if api_key:
        request.add_header(API_KEY_HEADER, api_key)
    opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
    with opener.open(request, timeout=timeout_s) as response:
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise AnswerTooLarge(f"the answer of {url} is over {max_bytes:,} bytes")
    return json.loads(body)


class _DeadlineSocket:
    """A connected socket whose every send and receive waits at most until ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the collector's answer took longer than the timeout")
        self._sock.settimeout(remaining)

    def sendall(self, data: bytes) -> None:
        self.arm()
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self, self._sock.makefile("rb", buffering=0)))

    def close(self) -> None:  # the reader's file keeps the descriptor open until it closes
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket, raw: Any) -> None:
        self._sock = sock
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.arm()
        return int(self._raw.readinto(buffer))

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Deadline:
    """Mixed into a connection class: once connected, its socket keeps to the deadline."""

    sock: Any

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineConnection(_Deadline, http.client.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_Deadline, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineConnection, req, deadline=self._deadline)  # type: ignore[arg-type]


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _DeadlineHTTPSConnection,  # type: ignore[arg-type]
            req,
            context=self._context,  # type: ignore[attr-defined]
            deadline=self._deadline,
        )
