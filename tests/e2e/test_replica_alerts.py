"""Three collector replicas on ONE PostgreSQL schema evaluate an alert rule once per interval.

Every replica loads the same rule file (a budget rule, a one-second interval, a webhook on
loopback). Spend arrives through all three replicas and breaches the budget. Then, polling the
database against a deadline: each evaluated interval has one claim row, made by one of the
replicas; the rule moved inactive -> pending -> firing once; and after several more intervals
the webhook has received exactly one notification, not one per replica.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from glassline.collector.auth import generate_key
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.collector.testing import run_collector
from glassline.instrumentation import attributes as A

DEADLINE_S = 60.0
MORE_INTERVALS = 4  # intervals evaluated after the firing, with no second notification


@pytest.fixture
def pg_url() -> Iterator[str]:
    with isolated_postgres_url() as url:
        yield url


class Webhook:
    """A loopback webhook receiver: ``url``, and every JSON body it got in ``bodies``."""

    def __init__(self, url: str, bodies: list[dict[str, Any]]) -> None:
        self.url, self.bodies = url, bodies


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", bodies)
    finally:
        server.shutdown()
        server.server_close()


def _spend(cost_usd: float) -> dict[str, Any]:
    now = time.time_ns()
    span = {
        "traceId": secrets.token_hex(16),
        "spanId": secrets.token_hex(8),
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(now - 50_000_000),
        "endTimeUnixNano": str(now),
        "attributes": [
            {"key": A.GEN_AI_OPERATION_NAME, "value": {"stringValue": "chat"}},
            {"key": A.GEN_AI_REQUEST_MODEL, "value": {"stringValue": "gpt-4o-mini"}},
            {"key": A.COST_USD, "value": {"doubleValue": cost_usd}},
        ],
    }
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]}


def _poll(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)  # polling other processes' database writes: no event to await
    raise AssertionError(f"not in time: {what}")


def test_three_replicas_evaluate_an_alert_rule_once_per_interval_and_notify_once(
    pg_url: str, webhook: Webhook, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "evaluation_interval": "1s",
                "notifiers": [{"name": "hook", "type": "webhook", "url": webhook.url}],
                "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1}],
            }
        )
    )
    key, admin = generate_key(), generate_key()
    config = {
        "storage": {"url": pg_url},
        "auth": {"tenants": {"acme": [key]}, "admin_keys": [admin]},
        "alerts": {"rules_file": str(rules)},
    }
    engine = create_engine(pg_url)
    with contextlib.ExitStack() as stack:
        stack.callback(engine.dispose)
        # One after another: the first applies the migrations before the others start.
        replicas = [stack.enter_context(run_collector(config, tenants=())) for _ in range(3)]
        for replica in replicas:  # $0.50 through each: $1.50 breaches the $1 budget
            response = httpx.post(
                f"{replica.http_endpoint}/v1/traces",
                json=_spend(0.5),
                headers={"authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text

        def claims() -> list[Any]:
            with engine.connect() as conn:
                return conn.execute(text("SELECT * FROM alert_evaluations ORDER BY slot")).all()

        def fired_at() -> int | None:
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT fired_at FROM alert_states WHERE rule = 'spend'")
                ).scalar()

        fired = _poll(fired_at, "the budget rule fires")
        _poll(
            lambda: sum(c.evaluated_at > fired for c in claims()) >= MORE_INTERVALS,
            f"{MORE_INTERVALS} more intervals evaluated after the firing",
        )
        pids = {str(r.process.pid) for r in replicas}
        with engine.connect() as conn:
            events = conn.execute(
                text("SELECT from_state, to_state FROM alert_events ORDER BY id")
            ).all()
        evaluated = claims()
    # The replicas are stopped: their notifier queues have drained.

    assert [tuple(e) for e in events] == [("inactive", "pending"), ("pending", "firing")]
    assert {c.holder.split(":")[1] for c in evaluated} <= pids
    assert all(c.interval_ms == 1000 and c.slot == c.evaluated_at for c in evaluated)
    assert len({c.slot for c in evaluated}) == len(evaluated) >= MORE_INTERVALS + 1
    assert [(b["status"], [a["rule"] for a in b["alerts"]]) for b in webhook.bodies] == [
        ("firing", ["spend"])
    ]
