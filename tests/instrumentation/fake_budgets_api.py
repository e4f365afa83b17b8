"""A fake ``/api/v1/budgets`` and ``/api/v1/kill-switches`` on a free loopback port, for guards."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeBudgetsAPI:
    """``/api/v1/budgets`` and ``/api/v1/kill-switches`` answering what the test sets."""

    def __init__(self) -> None:
        self.budgets: list[dict[str, Any]] = []
        self.unlisted: list[dict[str, Any]] = []
        self.switches: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.page_size = 1000
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                api.paths.append(self.path)
                if self.path.startswith("/api/v1/budgets"):
                    body = {"budgets": api.budgets, "unlisted": api.unlisted}
                else:  # pages of api.page_size, as the collector answers them
                    start = int(self.path.partition("?cursor=")[2] or 0)
                    end = start + api.page_size
                    more = end < len(api.switches)
                    body = {
                        "kill_switches": api.switches[start:end],
                        "next_cursor": str(end) if more else None,
                    }
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def budget(
    spend: float, *, rule: str = "daily", user: str | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "rule": rule,
        "tenant": "acme",
        "window": "24h",
        "labels": {"user": user, **labels} if user else labels,
        "spend_usd": spend,
        "limit_usd": 10.0,
        "warn_usd": 8.0,
        "state": "ok",
    }
