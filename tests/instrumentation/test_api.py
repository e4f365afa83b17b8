"""Reading the collector's API: one deadline for the whole answer, a bound on its size.

The endpoints here misbehave the way a proxy or a wrong URL does: an answer that drips a
byte at a time (each read comes quickly, so a per-read timeout never fires) and an endless
body. ``budget_status()`` runs on the app's thread and must come back within its timeout.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from glassline.instrumentation import budget_status
from glassline.instrumentation._api import MAX_ANSWER_BYTES, AnswerTooLarge, get_json
from tests.certificates import self_signed

FLOOD_BYTES = 4 * MAX_ANSWER_BYTES
BODY = b'{"budgets": []}'
OK = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)


class Endpoint:
    """A loopback HTTP(S) server answering every request in one ``mode``:

    ``ok`` a small JSON answer; ``drip-head`` its status line a byte every 50 ms; ``drip-body``
    the head at once and the body a byte every 50 ms; ``flood`` an endless chunked body, up
    to ``FLOOD_BYTES``, recording in ``sent`` how much went out before the client hung up.
    """

    def __init__(self, mode: str, tls: ssl.SSLContext | None = None) -> None:
        self.mode = mode
        self.sent: int | None = None
        self.done = threading.Event()  # a flood has ended
        self.release = threading.Event()
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://localhost:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        try:
            if self._tls:  # on this thread, so that close() never waits for a handshake
                conn = self._tls.wrap_socket(conn, server_side=True)
            with conn:
                conn.recv(65536)
                if self.mode == "ok":
                    conn.sendall(OK)
                elif self.mode == "drip-head":
                    self._drip(conn, OK)
                elif self.mode == "drip-body":
                    head, body = OK.split(b"\r\n\r\n")
                    conn.sendall(head + b"\r\n\r\n")
                    self._drip(conn, body)
                elif self.mode == "flood":
                    self._flood(conn)
        except OSError:
            pass

    def _drip(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self.release.wait(0.05):
                return
            conn.sendall(bytes([byte]))

    def _flood(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16))
        sent = 0
        try:
            while sent < FLOOD_BYTES:
                conn.sendall(chunk)
                sent += len(chunk)
        finally:
            self.sent = sent
            self.done.set()

    def close(self) -> None:
        """Stop accepting, then free the listener's descriptor.

        Closing the descriptor alone neither wakes a thread blocked in ``accept()`` nor stops
        one about to call it with the old descriptor number; once a later socket reuses that
        number (the next test's fake LLM server), that thread took the later server's
        connections and dropped them unanswered ("Server disconnected without sending a
        response"). ``shutdown`` wakes it; joining it before ``close`` closes that window.
        """
        self.release.set()
        self._listener.shutdown(socket.SHUT_RDWR)
        self.accepting.join()
        self._listener.close()


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


def _status_within(url: str, timeout: float) -> str:
    """``budget_status``'s state, asked on a thread; fails if it has not come back in 30 s."""
    found: list[str] = []
    asking = threading.Thread(
        target=lambda: found.append(
            budget_status(base_url=url, api_key="k", timeout=timeout).state
        ),
        daemon=True,
    )
    asking.start()
    asking.join(30)
    assert found, f"budget_status(timeout={timeout}) was still waiting after 30 s"
    return found[0]


def test_a_closed_endpoint_has_no_thread_left_accepting() -> None:
    # Later tests' servers reuse its listener's descriptor number: a thread of it still in
    # accept() took their connections and dropped them (test_clients.py's fake LLM server).
    endpoint = Endpoint("ok")
    assert get_json(endpoint.url, api_key=None, timeout_s=10) == {"budgets": []}
    endpoint.close()
    assert not endpoint.accepting.is_alive()


@pytest.mark.parametrize("mode", ["drip-head", "drip-body"])
def test_an_answer_that_drips_is_cut_at_the_timeout(endpoints: list[Endpoint], mode: str) -> None:
    endpoints.append(endpoint := Endpoint(mode))
    assert _status_within(endpoint.url, timeout=0.5) == "unknown"
    assert not endpoint.release.is_set()  # cut by the SDK, not by the endpoint giving up


def test_an_endless_answer_is_read_up_to_the_bound_then_dropped(
    endpoints: list[Endpoint],
) -> None:
    # Before, budget_status read the whole body into the app's memory: 1 GB took it to 2 GB.
    endpoints.append(endpoint := Endpoint("flood"))
    assert _status_within(endpoint.url, timeout=30) == "unknown"
    assert endpoint.done.wait(30)
    assert endpoint.sent is not None and endpoint.sent < 2 * MAX_ANSWER_BYTES


def test_a_bound_smaller_than_the_answer_is_named(endpoints: list[Endpoint]) -> None:
    endpoints.append(endpoint := Endpoint("ok"))
    assert get_json(endpoint.url, api_key=None, timeout_s=10) == {"budgets": []}
    with pytest.raises(AnswerTooLarge, match="over 10 bytes"):
        get_json(endpoint.url, api_key=None, timeout_s=10, max_bytes=10)


def test_the_deadline_holds_over_tls_too(
    endpoints: list[Endpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test's certificate
    endpoints.append(answering := Endpoint("ok", tls=server_side))
    assert get_json(answering.url, api_key=None, timeout_s=10) == {"budgets": []}
    endpoints.append(dripping := Endpoint("drip-body", tls=server_side))
    assert _status_within(dripping.url, timeout=0.5) == "unknown"
