"""Through the real collector process: OTLP ingest fires a latency alert; budgets per tenant."""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from glassline.collector.testing import metric_by_label, run_collector
from glassline.semconv import attributes as attrs

from .support import Receiver

RULES = {
    "evaluation_interval": "0.2s",
    "dashboard_url": "http://dash.local",
    "notifiers": [{"name": "hook", "type": "webhook", "url": "", "max_retries": 0}],
    "rules": [
        {
            "name": "slow-model",
            "kind": "latency",
            "per": "model",
            "threshold_ms": 1000,
            "window": "5m",
        },
        {"name": "daily", "kind": "budget", "window": "24h", "limit_usd": 10, "warn_usd": 8},
    ],
}


def otlp_json(model: str, duration_ms: float, count: int) -> dict:
    now = time.time_ns()
    spans = [
        {
            "traceId": secrets.token_hex(16),
            "spanId": secrets.token_hex(8),
            "name": f"chat {model}",
            "kind": 3,
            "startTimeUnixNano": str(now - int(duration_ms * 1e6)),
            "endTimeUnixNano": str(now),
            "attributes": [
                {"key": attrs.SPAN_KIND, "value": {"stringValue": "llm"}},
                {"key": attrs.GEN_AI_OPERATION_NAME, "value": {"stringValue": "chat"}},
                {"key": attrs.GEN_AI_REQUEST_MODEL, "value": {"stringValue": model}},
                {"key": attrs.COST_USD, "value": {"doubleValue": 0.25}},
            ],
        }
        for _ in range(count)
    ]
    return {
        "resourceSpans": [
            {"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}
        ]
    }


def wait_until(check, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)  # polling another process: there is no event to await
    raise AssertionError("condition not met in time")


def test_real_ingest_fires_latency_alert_reports_budgets_and_reloads_on_sighup(
    tmp_path: Path, receiver: Receiver
) -> None:
    rules, config = tmp_path / "alerts.yaml", copy.deepcopy(RULES)
    config["notifiers"][0]["url"] = receiver.url
    rules.write_text(yaml.safe_dump(config))
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(
            run_collector({"alerts": {"rules_file": str(rules)}}, workdir=tmp_path / "c")
        )
        client = stack.enter_context(
            httpx.Client(base_url=collector.http_endpoint, headers=collector.headers())
        )
        for model, ms in (("slow-llm", 2500.0), ("fast-llm", 50.0)):
            response = client.post("/v1/traces", json=otlp_json(model, ms, 10))
            assert response.status_code == 200, response.text
        body = receiver.wait_for(1, timeout=30)[0]
        alert = body["alerts"][0]
        assert (alert["rule"], alert["state"], alert["labels"]) == (
            "slow-model",
            "firing",
            {"tenant": collector.tenant, "model": "slow-llm"},
        )
        assert alert["value"] > 1000 and alert["threshold"] == 1000.0

        # The app-facing budget status: this tenant's spend, and nothing of it for another.
        # Read at once: what was acknowledged counts (test_rules' first-second-of-a-minute case).
        budgets = client.get("/api/v1/budgets").json()["budgets"]
        assert [(b["rule"], b["spend_usd"], b["state"]) for b in budgets] == [("daily", 5.0, "ok")]
        other = client.get("/api/v1/budgets", headers=collector.headers("globex")).json()
        assert [(b["rule"], b["spend_usd"]) for b in other["budgets"]] == [("daily", 0.0)]

        states = client.get("/api/v1/alerts").json()["states"]
        assert [(s["labels"]["model"], s["state"]) for s in states] == [("slow-llm", "firing")]

        config["rules"][0]["threshold_ms"] = 5000
        rules.write_text(yaml.safe_dump(config))
        os.kill(collector.process.pid, signal.SIGHUP)

        def reloaded() -> bool:
            found = client.get("/api/v1/alerts").json()
            return (
                found["rules"][0]["threshold_ms"] == 5000
                and found["states"][0]["state"] == "resolved"
            )

        wait_until(reloaded)
        assert receiver.wait_for(2, timeout=30)[1]["alerts"][0]["state"] == "resolved"


def test_a_real_collector_delivers_every_group_to_every_notifier_once_past_its_queue(
    tmp_path: Path, receiver_factory: Callable[[str], Receiver]
) -> None:
    # 10 groups fire in one pass against queues of 2: before, 8 of them were dropped, for the
    # alerts' repeat_interval (4 h). Now they wait in the store and go out at the next passes.
    tenants = tuple(f"t{n}" for n in range(10))
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(run_collector({}, tenants=tenants, workdir=tmp_path / "c"))
        client = stack.enter_context(httpx.Client(base_url=collector.http_endpoint))
        for tenant in tenants:  # the spend is stored before any rule sees it
            body = otlp_json("m", 50.0, 1)
            response = client.post("/v1/traces", json=body, headers=collector.headers(tenant))
            assert response.status_code == 200, response.text
    hooks = [receiver_factory("ok"), receiver_factory("ok")]
    rules = {
        "evaluation_interval": "0.2s",
        "queue_size": 2,
        "group_by": ["rule", "tenant"],
        "notifiers": [
            {"name": f"hook{n}", "type": "webhook", "url": hook.url} for n, hook in enumerate(hooks)
        ],
        "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 0.1}],
    }
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules))
    config = {"alerts": {"rules_file": str(tmp_path / "alerts.yaml")}}
    with run_collector(config, tenants=tenants[:1], workdir=tmp_path / "c") as collector:
        for hook in hooks:
            hook.wait_for(len(tenants), timeout=60)
        # The backlog's gauge, per notifier, back to nothing waiting.
        name = "glassline_alert_notifications_waiting"
        wait_until(
            lambda: (
                metric_by_label(collector.http_endpoint, name, "notifier")
                == {"hook0": 0.0, "hook1": 0.0}
            )
        )
    # Stopped: its queues were drained, so a duplicate would have arrived by now.
    for hook in hooks:
        assert sorted(hook.groups()) == [("firing", "spend", t) for t in tenants]


def test_without_a_rule_file_the_alerting_paths_say_alerting_is_off(tmp_path: Path) -> None:
    # They answered Starlette's plain-text "Not Found", which reads as a wrong URL.
    with run_collector(workdir=tmp_path) as collector, httpx.Client(timeout=30) as client:
        for path in ("/api/v1/alerts", "/api/v1/budgets", "/api/v1/slos"):
            url = collector.http_endpoint + path
            answer = client.get(url, headers=collector.headers())
            assert answer.status_code == 404
            assert answer.json() == {
                "error": "alerting is off: set alerts.rules_file in the collector config"
            }
            assert client.get(url).status_code == 401  # no key: nothing said about the config


def test_a_real_collector_delivers_a_storm_past_its_queue_within_one_pass(
    tmp_path: Path, receiver: Receiver
) -> None:
    # A notifier got at most queue_size messages a pass, the rest at the next passes: 20,000
    # alerts took 20 passes (5 minutes) with the default queue of 1,000, whatever the
    # webhook's pace. A queue half empty is now refilled at once: with a pass an hour, every
    # group goes out in the first, 2 at a time.
    tenants = tuple(f"t{n}" for n in range(10))
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(run_collector({}, tenants=tenants, workdir=tmp_path / "c"))
        client = stack.enter_context(httpx.Client(base_url=collector.http_endpoint))
        for tenant in tenants:
            body = otlp_json("m", 50.0, 1)
            response = client.post("/v1/traces", json=body, headers=collector.headers(tenant))
            assert response.status_code == 200, response.text
    rules = {
        "evaluation_interval": "1h",
        "queue_size": 2,
        "group_by": ["rule", "tenant"],
        "notifiers": [{"name": "hook", "type": "webhook", "url": receiver.url}],
        "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 0.1}],
    }
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump(rules))
    config = {"alerts": {"rules_file": str(tmp_path / "alerts.yaml")}}
    with run_collector(config, tenants=tenants[:1], workdir=tmp_path / "c") as collector:
        receiver.wait_for(len(tenants), timeout=60)
        # The refills report too: the backlog's gauge is back to nothing waiting.
        name = "glassline_alert_notifications_waiting"
        wait_until(
            lambda: metric_by_label(collector.http_endpoint, name, "notifier") == {"hook": 0.0}
        )
    assert sorted(receiver.groups()) == [("firing", "spend", t) for t in tenants]
