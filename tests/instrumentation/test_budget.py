"""budget_status(): parsed budgets from the collector API, "unknown" on any failure."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from glassline.instrumentation import _settings, budget_status, init, shutdown
from glassline.instrumentation.budget import api_url

BUDGETS = {
    "budgets": [
        {
            "rule": "daily",
            "window": "1d",
            "spend_usd": 8.5,
            "limit_usd": 10.0,
            "warn_usd": 8.0,
            "state": "warn",
            "forecast_exhaustion": "2026-11-23T18:00:00Z",
        },
        {
            "rule": "monthly",
            "window": "30d",
            "spend_usd": 100.0,
            "limit_usd": 300.0,
            "warn_usd": None,
            "state": "ok",
            "forecast_exhaustion": None,
        },
    ]
}


@pytest.fixture
def api() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"body": json.dumps(BUDGETS).encode(), "status": 200, "seen": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            state["seen"].append((self.path, self.headers.get("x-glassline-api-key")))
            self.send_response(state["status"])
            self.send_header("content-length", str(len(state["body"])))
            self.end_headers()
            self.wfile.write(state["body"])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_budgets_are_parsed_and_the_worst_state_wins(api: dict[str, Any]) -> None:
    status = budget_status(base_url=api["url"], api_key="key-1")
    assert api["seen"] == [("/api/v1/budgets?min_share=0.5", "key-1")]  # the keys near a budget
    assert status.state == "warn" and status.ok and status.error is None
    daily, monthly = status.budgets
    assert (daily.rule, daily.spend_usd, daily.warn_usd) == ("daily", 8.5, 8.0)
    assert monthly.warn_usd is None and monthly.forecast_exhaustion is None


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b"{}"), (200, b"not json"), (200, b'{"budgets": [{"rule": 1}]}'), (401, b"")],
)
def test_bad_answers_give_unknown(api: dict[str, Any], status: int, body: bytes) -> None:
    api["status"], api["body"] = status, body
    result = budget_status(base_url=api["url"])
    assert result.state == "unknown" and not result.ok and result.error


def test_defaults_come_from_init(api: dict[str, Any]) -> None:
    before = _settings.current()
    init(endpoint=api["url"], protocol="http", api_key="init-key")
    try:
        status = budget_status()
    finally:
        shutdown()
        _settings.replace(before)
    assert api["seen"] == [("/api/v1/budgets?min_share=0.5", "init-key")]
    assert len(status.budgets) == 2


def test_grpc_endpoint_maps_to_the_http_port() -> None:
    before = _settings.current()
    init(endpoint="http://127.0.0.1:4317", protocol="grpc", export_timeout=0.5)
    try:
        assert api_url(None) == "http://127.0.0.1:4318"
    finally:
        shutdown()
        _settings.replace(before)


def test_unreachable_collector_gives_unknown() -> None:
    result = budget_status(base_url="http://127.0.0.1:9", timeout=0.5)
    assert result.state == "unknown" and result.budgets == ()
