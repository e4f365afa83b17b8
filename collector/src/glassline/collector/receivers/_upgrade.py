"""An HTTP/1.1 request asking to upgrade the connection (``Upgrade: h2c``) is served as HTTP/1.1.

``curl --http2`` and Java's ``HttpClient`` (HTTP/2 is its default) ask an ``http://`` server to
switch to HTTP/2 with ``Connection: Upgrade, HTTP2-Settings`` and ``Upgrade: h2c`` on their first
request. A server may ignore that and answer in HTTP/1.1 (RFC 9110, section 7.8), as uvicorn
means to, but its parser (llhttp, through httptools) treats the bytes after such a request's
headers as the new protocol's: the request reached the app with no body and the rest of the
connection was never read. An export sent so was answered 200 and nothing was stored; the
next request on the connection waited for the header timeout.

Here such a request never reaches the app as parsed. Its head is fed again to a fresh parser
without the upgrade headers, followed by the bytes the old parser left, so the body and any
request behind it are read as HTTP/1.1. A WebSocket upgrade (none is served) stays uvicorn's.
"""

from __future__ import annotations

import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["DeclinesUpgrade"]

_log = logging.getLogger(__name__)
# The headers that ask for an upgrade, and the Connection header's tokens that name them.
_UPGRADE = frozenset({b"upgrade", b"http2-settings"})


class DeclinesUpgrade(HttpToolsProtocol):
    """uvicorn's httptools protocol, serving a request with an ``Upgrade`` it does not take."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._declined: bytes | None = None  # the head to parse again, once the parser stops

    def data_received(self, data: bytes) -> None:
        """uvicorn's, but a declined upgrade is parsed again instead of left unread."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade as upgrade:
            head, self._declined = self._declined, None
            if head is not None:
                offset = upgrade.args[0] if upgrade.args else len(data)
                self.parser = _parser(self)
                self.data_received(head + data[offset:])
            elif self._should_upgrade():
                self.handle_websocket_upgrade()
            # else CONNECT, which llhttp always takes for an upgrade: the app has answered it,
            # and the connection, unreadable from here, is closed by its header deadline.

    def on_headers_complete(self) -> None:
        declines = self.parser.get_method() != b"CONNECT" and not self._should_upgrade()
        if declines and self.parser.should_upgrade():
            _log.debug("serving a request that asked for an upgrade as HTTP/1.1")
            self._declined = self._head_without_upgrade()
            return  # not started: parsed again once the parser stops at the headers' end
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._declined is None:
            super().on_message_complete()

    def _head_without_upgrade(self) -> bytes:
        """The request's head as received, without the headers that ask for an upgrade."""
        version = self.parser.get_http_version().encode("ascii")
        lines = [self.parser.get_method() + b" " + self.url + b" HTTP/" + version]
        for name, value in self.headers:
            if name in _UPGRADE:
                continue
            if name == b"connection":
                tokens = [t.strip() for t in value.split(b",")]
                value = b", ".join(t for t in tokens if t.lower() not in _UPGRADE)
                if not value:
                    continue
            lines.append(name + b": " + value)
        return b"\r\n".join(lines) + b"\r\n\r\n"


def _parser(protocol: HttpToolsProtocol) -> httptools.HttpRequestParser:
    """A fresh parser for ``protocol``, as uvicorn makes one."""
    parser = httptools.HttpRequestParser(protocol)
    # uvicorn's leniency: a pipelined request's answer is sent even if the client half-closed.
    parser.set_dangerous_leniencies(lenient_data_after_close=True)
    return parser
