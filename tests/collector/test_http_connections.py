"""HTTP connections that stall or vanish: closed on a deadline, counted, never an error."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from glassline.collector.config import ServerConfig
from glassline.collector.server import _http_socket


@pytest.fixture
def stack(h: Any) -> Any:
    server = ServerConfig(
        grpc_port=0, http_port=0, http_header_timeout_s=0.5, http_body_timeout_s=0.5
    )
    with h.start_receivers(server) as receivers:
        yield receivers


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (read returns EOF or a reset)."""
    sock.settimeout(30)  # a bound for the failure case only: the deadline is 0.5 s
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def _headers(h: Any, length: int) -> bytes:
    return (
        b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
        b"x-glassline-api-key: " + h.API_KEY.encode() + b"\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def test_a_connection_that_never_sends_a_request_is_closed(stack: Any) -> None:
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        assert _closed_by_server(sock)


def test_slowloris_headers_are_cut_off(stack: Any) -> None:
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: t\r\n")  # and never the rest
        assert _closed_by_server(sock)


def test_a_stalled_body_is_cut_off_and_its_admission_released(stack: Any, h: Any) -> None:
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(_headers(h, 1000) + b"x" * 100)  # 900 bytes short, forever
        h.wait_for(lambda: stack.admission.requests == 1, "the request to be admitted")
        assert _closed_by_server(sock)
    h.wait_for(lambda: stack.admission.requests == 0, "the ticket to be released")
    assert stack.admission.bytes == 0


@pytest.mark.parametrize("sent", [0, 10])
def test_a_body_slower_than_the_least_rate_is_cut_off_before_its_deadline(
    h: Any, sent: int
) -> None:
    """Nothing, or ten bytes, in a window that wants 200: the connection is closed and the
    request's receiving place released at the window's end, long before the body deadline
    (60 s here: a stall used to keep both that long)."""
    server = ServerConfig(
        grpc_port=0, http_port=0, http_body_timeout_s=60, http_body_min_rate_bytes_s=1000,
        http_body_rate_window_s=0.2,
    )  # fmt: skip
    with h.start_receivers(server) as stack:
        with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
            sock.sendall(_headers(h, 1000) + b"x" * sent)
            h.wait_for(lambda: stack.admission.requests == 1, "the request to be admitted")
            assert _closed_by_server(sock)
        h.wait_for(lambda: stack.admission.requests == 0, "the ticket to be released")
        assert (stack.admission.receiving, stack.admission.bytes) == (0, 0)


def test_client_gone_mid_upload_is_counted_not_logged_as_an_error(
    stack: Any, h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(_headers(h, 1000) + b"x" * 100)
        h.wait_for(lambda: stack.admission.requests == 1, "the request to be admitted")
    outcome = stack.metrics.requests.labels("http", "client_closed")
    h.wait_for(lambda: outcome._value.get() == 1, "the disconnect to be counted")
    assert stack.metrics.requests.labels("http", "500")._value.get() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert stack.admission.requests == 0


def test_request_headers_over_the_limit_get_a_400_and_the_connection_closed(stack: Any) -> None:
    """The parser (llhttp) bounds no head; the protocol does, as h11 did (16 KB)."""
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nx-big: " + b"a" * 20_000)
        answer = sock.makefile("rb").read()  # up to the server's close
    assert answer.startswith(b"HTTP/1.1 400")


def _many_headers(total: int) -> bytes:
    return b"".join(b"x-h%d: a\r\n" % i for i in range(total // 10))


@pytest.mark.parametrize("part", ["headers", "trailers"])
def test_a_head_over_the_limit_in_one_write_gets_a_400_and_is_not_served(
    stack: Any, h: Any, part: str
) -> None:
    """The whole request in one read, as a client's one write usually arrives: its head was
    parsed whole (thousands of headers, each a Python callback) before the reads were
    counted, and the request served."""
    body = h.make_request(h.make_span(1)).SerializeToString()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n"
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
        b"x-glassline-api-key: " + h.API_KEY.encode() + b"\r\n"
        + (_many_headers(24_000) + b"Content-Length: %d\r\n\r\n" % len(body) + body
           if part == "headers" else
           b"Transfer-Encoding: chunked\r\n\r\n" + chunked + _many_headers(24_000) + b"\r\n")
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(request)
        answer = sock.makefile("rb").read()  # up to the server's close
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert answer.endswith(b"Request headers too large.")


def _answer(reader: Any) -> bytes:
    """One answer's status line, its headers read past and its body read."""
    status = reader.readline()
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    reader.read(length)
    return bytes(status)


def test_the_body_of_a_refused_request_is_read_past_and_the_next_request_served(h: Any) -> None:
    """A 413 goes out before the body arrives; the body (larger than a read pause's 64 KB)
    is then dropped, and the connection carries on with the next request."""
    server = ServerConfig(grpc_port=0, http_port=0, max_message_bytes=64 * 1024)
    good = h.make_request(h.make_span(1)).SerializeToString()
    with h.start_receivers(server) as stack:
        with socket.create_connection(("127.0.0.1", stack.http_port), timeout=30) as sock:
            reader = sock.makefile("rb")
            sock.sendall(_headers(h, 200_000))
            assert _answer(reader).startswith(b"HTTP/1.1 413")
            sock.sendall(b"x" * 200_000 + _headers(h, len(good)) + good)
            assert _answer(reader).startswith(b"HTTP/1.1 200")
        assert [len(records) for _, records in stack.sink.batches] == [1]


def test_a_refused_requests_stalled_body_is_cut_off(h: Any) -> None:
    """Answered before its body is in, a request's body still has its deadline."""
    server = ServerConfig(
        grpc_port=0, http_port=0, max_message_bytes=64 * 1024, http_body_timeout_s=0.5
    )
    with (
        h.start_receivers(server) as stack,
        socket.create_connection(("127.0.0.1", stack.http_port)) as sock,
    ):
        sock.sendall(_headers(h, 200_000) + b"x" * 1000)  # 413, then the body stalls
        assert _answer(sock.makefile("rb")).startswith(b"HTTP/1.1 413")
        assert _closed_by_server(sock)


def _answers_until_closed(sock: socket.socket) -> list[bytes]:
    """The status lines of every answer the server sends before it closes."""
    sock.settimeout(30)  # a bound for the failure case only
    reader = sock.makefile("rb")
    answers = []
    while status := _answer(reader):
        answers.append(status)
    return answers


def test_a_client_that_half_closes_after_its_request_gets_its_answer(stack: Any, h: Any) -> None:
    """Stored, answered, then closed: it used to be stored and left unanswered."""
    body = h.make_request(h.make_span(1)).SerializeToString()
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(_headers(h, len(body)) + body)
        sock.shutdown(socket.SHUT_WR)
        assert _answers_until_closed(sock) == [b"HTTP/1.1 200 OK\r\n"]
    assert [len(records) for _, records in stack.sink.batches] == [1]


def test_pipelined_requests_before_a_half_close_are_all_answered(stack: Any, h: Any) -> None:
    bodies = [h.make_request(h.make_span(i, trace=i)).SerializeToString() for i in (1, 2, 3)]
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(b"".join(_headers(h, len(body)) + body for body in bodies))
        sock.shutdown(socket.SHUT_WR)
        assert _answers_until_closed(sock) == [b"HTTP/1.1 200 OK\r\n"] * 3
    assert sorted(records[0].trace_id[-1] for _, records in stack.sink.batches) == ["1", "2", "3"]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_request_asking_to_upgrade_to_h2c_is_served_as_http_1_1(
    stack: Any, h: Any, chunked: bool
) -> None:
    """``curl --http2`` asks so on an http:// URL: its export was answered 200 and dropped (the
    parser took the body for HTTP/2), and the next request on the connection went unread."""
    bodies = [h.make_request(h.make_span(i, trace=i)).SerializeToString() for i in (1, 2)]
    upgrade = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n"
    first = _headers(h, len(bodies[0])).replace(b"\r\n\r\n", b"\r\n" + upgrade + b"\r\n")
    if chunked:
        length = b"Content-Length: " + str(len(bodies[0])).encode()
        first = first.replace(length, b"Transfer-Encoding: chunked")
        first += b"%x\r\n" % len(bodies[0]) + bodies[0] + b"\r\n0\r\n\r\n"
    else:
        first += bodies[0]
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(first + _headers(h, len(bodies[1])) + bodies[1])
        sock.shutdown(socket.SHUT_WR)
        assert _answers_until_closed(sock) == [b"HTTP/1.1 200 OK\r\n"] * 2
    assert sorted(records[0].trace_id[-1] for _, records in stack.sink.batches) == ["1", "2"]


def test_a_half_close_mid_body_drops_that_request_and_releases_its_admission(
    stack: Any, h: Any
) -> None:
    with socket.create_connection(("127.0.0.1", stack.http_port)) as sock:
        sock.sendall(_headers(h, 1000) + b"x" * 100)
        h.wait_for(lambda: stack.admission.requests == 1, "the request to be admitted")
        sock.shutdown(socket.SHUT_WR)
        assert _answers_until_closed(sock) == []
    h.wait_for(lambda: stack.admission.requests == 0, "the ticket to be released")
    assert stack.sink.batches == []


class _Transport:
    """The transport calls the HTTP protocol makes, recorded."""

    def __init__(self) -> None:
        self.reading_paused = False
        self.closed = False
        self.writes: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 4318), "peername": ("127.0.0.1", 50000)}.get(name)

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def test_reading_pauses_only_when_the_app_leaves_a_reads_body_unread() -> None:
    """A body over 64 KB in one read is not paused for (the export endpoint takes it or
    answers before the next read); a second read while the first is unread pauses."""
    import uvicorn
    from uvicorn.server import ServerState

    from glassline.collector.receivers.http import uvicorn_config

    async def never_reads(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    async def feed(head: bytes, body: bytes) -> list[bool]:
        config: uvicorn.Config = uvicorn_config(never_reads, ServerConfig())
        protocol_class: Any = config.http
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)
        seen = []
        protocol.data_received(head + body)  # the app has not had its turn
        seen.append(transport.reading_paused)
        protocol.data_received(body)  # ... nor now: two reads' bodies unread
        seen.append(transport.reading_paused)
        protocol.connection_lost(None)
        return seen

    post = b"POST /v1/traces HTTP/1.1\r\nHost: t\r\n"
    sized = post + b"Content-Length: 300000\r\n\r\n"
    assert asyncio.run(feed(sized, b"x" * 120_000)) == [False, True]
    chunked = post + b"Transfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"4e20\r\n" + b"x" * 20_000 + b"\r\n" for _ in range(6))  # 120 KB
    assert asyncio.run(feed(chunked, chunks)) == [False, True]


def test_the_http_listener_accepts_connections_that_send_small_writes_at_once() -> None:
    """An answer is two writes (headers, body); with Nagle the second waits for an ACK."""

    async def accepted_nodelay() -> int:
        listener = _http_socket("127.0.0.1", 0)
        listener.listen()
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accept, sock=listener)
        async with server:
            _, client = await asyncio.open_connection(*listener.getsockname()[:2])
            try:
                return await asyncio.wait_for(seen, 30)
            finally:
                client.close()

    assert asyncio.run(accepted_nodelay()) != 0


class _Socket:
    """A transport that records each write (each would be one send syscall)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_an_answers_headers_and_body_leave_in_one_write() -> None:
    from glassline.collector.receivers._timeouts import _Coalescing

    async def answer() -> _Socket:
        sock = _Socket()
        transport = _Coalescing(sock, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 429 Too Many Requests\r\n\r\n")
        transport.write(b"body")
        transport.write(b"")  # h11's end of a Content-Length message
        assert sock.writes == []  # nothing sent mid-turn
        assert transport.get_write_buffer_size() == 0  # the rest is the socket's own
        await asyncio.sleep(0)  # the end of this event-loop turn
        return sock

    sock = asyncio.run(answer())
    assert sock.writes == [b"HTTP/1.1 429 Too Many Requests\r\n\r\nbody"]


def test_closing_sends_what_is_pending_first() -> None:
    from glassline.collector.receivers._timeouts import _Coalescing

    async def answer_and_close() -> _Socket:
        sock = _Socket()
        transport = _Coalescing(sock, asyncio.get_running_loop())  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        transport.close()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        return sock

    sock = asyncio.run(answer_and_close())
    assert sock.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and sock.closed


def test_an_overload_refusal_is_written_from_its_headers_without_an_asgi_task(h: Any) -> None:
    """Nine requests in ten are refused under overload: each 429 leaves in the loop's turn
    that read the request's headers, with no task, middleware or send messages; the rest of
    its body is read past and the connection serves the next request."""
    import uvicorn
    from google.rpc.status_pb2 import Status
    from uvicorn.server import ServerState

    from glassline.collector.admission import Admission
    from glassline.collector.auth import Keyring
    from glassline.collector.config import AuthConfig
    from glassline.collector.metrics import Metrics
    from glassline.collector.receivers.http import build_app, uvicorn_config

    class _NoExports:
        kinds = frozenset({"traces"})

    async def feed() -> tuple[_Transport, Any]:
        metrics = Metrics()
        full = Admission(1 << 20, 0, metrics, retry_after_s=2)  # no request fits
        keyring = Keyring.from_config(AuthConfig(tenants={"acme": [h.API_KEY]}), environ={})
        app = build_app(ServerConfig(), keyring, full, _NoExports(), metrics)  # type: ignore[arg-type]
        config: uvicorn.Config = uvicorn_config(app, ServerConfig())
        protocol_class: Any = config.http
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.data_received(_headers(h, 200_000) + b"x" * 70_000)
        assert not protocol.tasks  # the answer did not wait for a task
        protocol.data_received(b"x" * 130_000 + _headers(h, 10) + b"y" * 10)
        assert not protocol.tasks
        assert metrics.requests.labels("http", "429")._value.get() == 2
        assert not transport.closed  # kept alive
        protocol.connection_lost(None)
        return transport, protocol

    transport, _ = asyncio.run(feed())
    assert len(transport.writes) == 2 and transport.writes[0] == transport.writes[1]
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 429 Too Many Requests"
    assert lines[1:] == [
        b"retry-after: 2",
        b"content-length: " + str(len(body)).encode(),
        b"content-type: application/x-protobuf",
    ]
    status = Status.FromString(body)
    assert status.code == 8 and "in-flight requests limit" in status.message
