"""A loopback HTTP proxy that refuses and records every outbound request of a peer app.

The apps run with ``HTTP(S)_PROXY`` pointing here (loopback exempted through ``NO_PROXY``), so
a library that tries to download something at run time (OpenLIT's price list, a telemetry
ping) is refused at once instead of hanging, and the attempt is recorded by host.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class EgressRecorder:
    """Records ``host`` of every request (CONNECT or absolute-URL) and answers 403."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _refuse(self) -> None:
                target = self.path if self.command != "CONNECT" else f"//{self.path}"
                recorder.hosts.append(urlsplit(target).hostname or self.path)
                self.send_response(403)
                self.send_header("content-length", "0")
                self.end_headers()

            do_CONNECT = do_GET = do_POST = do_HEAD = do_PUT = _refuse

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> EgressRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def env(self) -> dict[str, str]:
        """Proxy variables in every spelling the HTTP and gRPC stacks read."""
        no_proxy = "127.0.0.1,localhost"
        return {
            "HTTP_PROXY": self.url,
            "HTTPS_PROXY": self.url,
            "http_proxy": self.url,
            "https_proxy": self.url,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "no_grpc_proxy": no_proxy,
        }
