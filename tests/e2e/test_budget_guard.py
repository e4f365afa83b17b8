"""Budgets enforced at run time, end to end with the real collector.

An app spends through the fake provider (the real openai client, hooked); its spans reach the
collector, whose rollups drive a budget to its warning level and then to critical; a budget
guard flips from allow to degrade to deny within its refresh interval (each step awaits a
refresh, nothing sleeps); the spans carry each decision, and the dashboard, on the store the
collector wrote, shows the calls denied and degraded and the spend prevented. Kill switches
set through the API and cleared with the CLI reach the guard the same way. With the collector
gone, a guard keeps its last state, and a new one fails open or closed as its policy says.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from opentelemetry import trace

from glassline.collector.testing import RunningCollector, run_collector, stop
from glassline.instrumentation import (
    BudgetPolicy,
    budget_guard,
    context,
    init,
    llm,
    shutdown,
    stage,
    workflow,
)
from glassline.instrumentation.guard import BudgetGuard
from glassline.pricing import format_usd
from glassline.semconv import attributes as a

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer

from tests.e2e.alert_rules import collector_with_rules

# Each call of the fake provider costs ~$0.0000345 (gpt-4o-mini, 120 in of which 20 cached, 30
# out): the warning level is passed by the second call, the limit by the third.
RULES = """
rules:
  - name: daily
    kind: budget
    window: 24h
    warn_usd: 0.00005
    limit_usd: 0.0001
"""


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    with collector_with_rules(tmp_path_factory.mktemp("budget"), RULES) as c:
        yield c


def _budget_state(collector: RunningCollector) -> str:
    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/budgets", headers=collector.headers(), timeout=10
    )
    [daily] = response.json()["budgets"]
    return str(daily["state"])


def _spend_and_refresh(guard: BudgetGuard) -> None:
    """Export what was spent (acknowledged = in the rollups), then await a fresh state."""
    assert trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    assert guard.wait_for_refresh()


def test_spending_flips_the_guard_and_the_spans_show_it(
    collector: RunningCollector, provider: FakeLLMServer
) -> None:
    key = collector.api_keys["acme"]
    init(endpoint=f"http://{collector.grpc_endpoint}", api_key=key, instrument=["openai"])
    guard = budget_guard(url=collector.http_endpoint, api_key=key, refresh_s=0.2)
    client = openai.OpenAI(base_url=provider.base_url + "/v1", api_key="k", max_retries=0)

    def cheaper(question: str) -> str:
        return "a cached answer"

    @stage("generate")
    @llm(provider="openai", budget=guard, on_exceeded=cheaper)
    def chat(question: str) -> str:
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return response.choices[0].message.content or ""

    @workflow("ask")
    def ask(question: str) -> str:
        return chat(question)

    try:
        assert guard.ready()
        decisions = []
        with context(user="u-1"):
            for _ in range(4):
                decisions.append(guard.check(tenant="acme").action)
                ask("How do I rotate keys?")
                _spend_and_refresh(guard)
            assert ask("one more?") == "a cached answer"
        assert decisions == ["allow", "allow", "degrade", "deny"]
        assert provider.requests and len(provider.requests) == 3  # the 4th call was denied
        assert _budget_state(collector) == "critical"
        assert guard.stats()["denied"] >= 2
    finally:
        shutdown()
        guard.close()

    traces = httpx.get(
        f"{collector.http_endpoint}/api/v1/traces?limit=50",
        headers=collector.headers(),
        timeout=10,
    ).json()["traces"]
    recorded = []
    for summary in sorted(traces, key=lambda t: t["start_ns"]):
        detail = httpx.get(
            f"{collector.http_endpoint}/api/v1/traces/{summary['trace_id']}",
            headers=collector.headers(),
            timeout=10,
        ).json()
        [call] = [s for s in detail["spans"] if s["kind"] == "llm"]
        recorded.append(call["attributes"]["glassline.budget.decision"])
    assert recorded == ["allow", "allow", "degrade", "deny", "deny"]


def test_kill_switches_reach_the_guard_within_its_refresh(collector: RunningCollector) -> None:
    guard = budget_guard(
        url=collector.http_endpoint,
        api_key=collector.api_keys["acme"],
        refresh_s=0.2,
        policies={"daily": BudgetPolicy(on_critical="allow", on_warn="allow")},
    )
    try:
        assert guard.ready()
        assert guard.check(tenant="acme", stage="retrieve").action == "allow"
        response = httpx.post(
            f"{collector.http_endpoint}/api/v1/kill-switches",
            headers=collector.headers(),  # a tenant key: its own tenant only
            json={"stage": "retrieve", "reason": "runaway loop"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert guard.wait_for_refresh()
        stopped = guard.check(tenant="acme", stage="retrieve")
        assert stopped.action == "deny" and "runaway loop" in stopped.reason
        assert guard.check(tenant="acme", stage="generate").action == "allow"
        subprocess.run(
            [
                sys.executable, "-m", "glassline.collector.cli", "kill-switch", "clear",
                "--tenant", "acme", "--stage", "retrieve", "--config", str(collector.config_path),
            ],
            check=True, timeout=60, capture_output=True,
        )  # fmt: skip
        assert guard.wait_for_refresh()
        assert guard.check(tenant="acme", stage="retrieve").action == "allow"
    finally:
        guard.close()


def test_collector_down_keeps_the_last_state_then_fails_as_documented(
    tmp_path: Path,
) -> None:
    with run_collector(tenants=("acme",), workdir=tmp_path) as c:
        key = c.api_keys["acme"]
        guard = budget_guard(url=c.http_endpoint, api_key=key, refresh_s=0.2)
        assert guard.ready()
        httpx.post(
            f"{c.http_endpoint}/api/v1/kill-switches", headers=c.headers(), json={}, timeout=10
        )
        assert guard.wait_for_refresh()
        assert guard.check().action == "deny"
        stop(c)
        assert guard.wait_for_refresh()  # this one failed: the collector is gone
        assert guard.stats()["refresh_failures"] >= 1
        assert guard.check().action == "deny"  # the last state holds until stale_after_s
        guard.close()
        opened = budget_guard(url=c.http_endpoint, api_key=key)
        closed = budget_guard(
            url=c.http_endpoint, api_key=key, default_policy=BudgetPolicy(fail="closed")
        )
        try:
            assert opened.ready() and closed.ready()
            assert opened.check().action == "allow"
            assert closed.check().action == "deny"
        finally:
            opened.close()
            closed.close()


def _stored_llm_spans(collector: RunningCollector) -> list[dict[str, Any]]:
    """Every stored LLM span of the tenant, oldest first, through the query API."""
    api, headers = f"{collector.http_endpoint}/api/v1", collector.headers()
    traces = httpx.get(f"{api}/traces?limit=50", headers=headers, timeout=10).json()["traces"]
    spans = []
    for summary in sorted(traces, key=lambda t: t["start_ns"]):
        detail = httpx.get(f"{api}/traces/{summary['trace_id']}", headers=headers, timeout=10)
        spans += [s for s in detail.json()["spans"] if s["kind"] == "llm"]
    return spans


def _dashboard_metrics(db_url: str, page: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The metric tiles of a dashboard page over the last hour, rendered by Streamlit's AppTest."""
    from streamlit.testing.v1 import AppTest

    import glassline.dashboard.app as app_module
    from glassline.dashboard.env import ENV_DB_URL

    monkeypatch.setenv(ENV_DB_URL, db_url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    end = (int(time.time()) // 60 + 1) * 60  # the minute under way, whole
    at.query_params.update({"range": "1h", "end": str(end)})
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return {m.label: m.value for m in at.metric}


def test_the_dashboard_shows_what_the_guard_prevented_and_degraded(
    tmp_path: Path, provider: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with collector_with_rules(tmp_path, RULES) as collector:
        key = collector.api_keys["acme"]
        init(endpoint=f"http://{collector.grpc_endpoint}", api_key=key, instrument=["openai"])
        guard = budget_guard(url=collector.http_endpoint, api_key=key, refresh_s=0.2)
        client = openai.OpenAI(base_url=provider.base_url + "/v1", api_key="k", max_retries=0)

        @llm(provider="openai", budget=guard, on_exceeded=lambda **_: "a cached answer")
        def chat(*, model: str, messages: list[dict[str, str]], max_tokens: int) -> str:
            response = client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens
            )
            return response.choices[0].message.content or ""

        question = [{"role": "user", "content": "How do I rotate my API keys?"}]
        try:
            assert guard.ready()
            # Each call is estimated at ~$0.0000017 before it is made (7 input tokens, 1 output
            # token): small against what a call spends, so the budget flips as in the test above.
            for _ in range(5):
                chat(model="gpt-4o-mini", messages=question, max_tokens=1)
                _spend_and_refresh(guard)
            assert len(provider.requests) == 3  # the denied calls never reached the provider
        finally:
            shutdown()
            guard.close()

        spans = _stored_llm_spans(collector)
        decisions = [s["attributes"][a.BUDGET_DECISION] for s in spans]
        assert decisions == ["allow", "allow", "degrade", "deny", "deny"]
        denied = [s for s in spans if s["attributes"][a.BUDGET_DECISION] == "deny"]
        prevented = sum(float(s["attributes"][a.BUDGET_PREVENTED_USD]) for s in denied)
        [degraded] = [s for s in spans if s["attributes"][a.BUDGET_DECISION] == "degrade"]
        assert prevented > 0 and degraded["cost_usd"] > 0

        spend = _dashboard_metrics(collector.db_url, "spend", monkeypatch)
        assert spend["Calls denied"] == "2"
        assert spend["Spend prevented"] == format_usd(prevented)
        assert spend["Calls degraded"] == "1"
        assert spend["Spend of degraded calls"] == format_usd(degraded["cost_usd"])
        overview = _dashboard_metrics(collector.db_url, "overview", monkeypatch)
        assert overview["Spans lost in the app"] == "0"  # every span was exported and counted
