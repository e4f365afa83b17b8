"""A budget filtered to one model, end to end with the real collector.

A tenant's budget counts gpt-4o-mini only (``filters: {model: [gpt-4o-mini]}``). The app
spends it through the fake provider with the real openai client; the collector reports the
budget with its filters on ``/api/v1/budgets``, and the guard denies the next gpt-4o-mini
call while the same app's gpt-4o calls, which the budget does not count, go on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from opentelemetry import trace

from glassline.collector.testing import RunningCollector
from glassline.instrumentation import budget_guard, context, init, llm, shutdown

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer

from tests.e2e.alert_rules import collector_with_rules

# Each gpt-4o-mini call of the fake provider costs ~$0.0000345: the limit is passed by the third.
RULES = """
rules:
  - name: mini-daily
    kind: budget
    window: 24h
    filters: {model: [gpt-4o-mini]}
    limit_usd: 0.0001
"""


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    with collector_with_rules(tmp_path_factory.mktemp("budget-filters"), RULES) as c:
        yield c


def test_a_budget_filtered_to_a_model_stops_that_model_only(
    collector: RunningCollector, provider: FakeLLMServer
) -> None:
    key = collector.api_keys["acme"]
    init(endpoint=f"http://{collector.grpc_endpoint}", api_key=key, instrument=["openai"])
    guard = budget_guard(url=collector.http_endpoint, api_key=key, refresh_s=0.2)
    client = openai.OpenAI(base_url=provider.base_url + "/v1", api_key="k", max_retries=0)

    @llm(provider="openai", budget=guard, on_exceeded=lambda **kwargs: "denied")
    def chat(*, model: str, question: str) -> str:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}]
        )
        return response.choices[0].message.content or ""

    try:
        assert guard.ready()
        with context(tenant="acme"):
            answers = []
            for _ in range(4):
                answers.append(chat(model="gpt-4o-mini", question="summarize the ticket"))
                assert trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
                assert guard.wait_for_refresh()
            assert "denied" not in answers[:3] and answers[3] == "denied"
            assert chat(model="gpt-4o", question="and the next one?") != "denied"
        assert [r["model"] for r in provider.requests] == ["gpt-4o-mini"] * 3 + ["gpt-4o"]
    finally:
        shutdown()
        guard.close()

    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/budgets", headers=collector.headers(), timeout=10
    )
    [entry] = response.json()["budgets"]
    assert entry["filters"] == {"model": ["gpt-4o-mini"]} and entry["state"] == "critical"
