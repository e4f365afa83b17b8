"""Budgets kept per API key, end to end with the real collector.

Two named keys of one tenant (``web`` and ``batch``); a budget rule ``per: [api_key]``. The
batch job spends through the fake provider with its key; the collector attributes the spend
to the key's NAME, reports one budget per key on ``/api/v1/budgets``, and the guards decide
by key: the batch job's guard denies once its key's budget is spent, the web app's guard (and
``check(api_key="web")``) still allows, since its key spent nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from opentelemetry import trace

from glassline.collector.auth import generate_key
from glassline.collector.testing import RunningCollector
from glassline.instrumentation import budget_guard, init, llm, shutdown, workflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer

from tests.e2e.alert_rules import collector_with_rules

WEB, BATCH = generate_key(), generate_key()
# Each call of the fake provider costs ~$0.0000345: the limit is passed by the third.
RULES = """
rules:
  - name: per-key
    kind: budget
    window: 24h
    per: [api_key]
    warn_usd: 0.00005
    limit_usd: 0.0001
"""


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    keys = [{"name": "web", "key": WEB}, {"name": "batch", "key": BATCH}]
    config = {"auth": {"tenants": {"acme": keys}}}
    with collector_with_rules(tmp_path_factory.mktemp("budget-per-key"), RULES, config) as c:
        yield c


def _budgets(collector: RunningCollector, key: str) -> dict[str, object]:
    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/budgets",
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def test_a_budget_per_api_key_stops_the_key_that_spent_it_only(
    collector: RunningCollector, provider: FakeLLMServer
) -> None:
    init(endpoint=f"http://{collector.grpc_endpoint}", api_key=BATCH, instrument=["openai"])
    batch = budget_guard(url=collector.http_endpoint, api_key=BATCH, refresh_s=0.2)
    web = budget_guard(url=collector.http_endpoint, api_key=WEB, refresh_s=0.2)
    client = openai.OpenAI(base_url=provider.base_url + "/v1", api_key="k", max_retries=0)

    @workflow("nightly")
    @llm(provider="openai", budget=batch, on_exceeded=lambda text: "skipped")
    def summarize(text: str) -> str:
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return response.choices[0].message.content or ""

    try:
        assert batch.ready() and web.ready()
        decisions = []
        for _ in range(4):
            decisions.append(batch.check(tenant="acme").action)
            summarize("yesterday's tickets")
            assert trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
            assert batch.wait_for_refresh() and web.wait_for_refresh()
        assert decisions == ["allow", "allow", "degrade", "deny"]
        assert len(provider.requests) == 3  # the 4th call was denied before it was made
        # The web app's key spent nothing: its guard allows, and so does the batch guard
        # when asked about the web key.
        assert web.check(tenant="acme").action == "allow"
        assert batch.check(tenant="acme", api_key="web").action == "allow"
        assert batch.check(tenant="acme", api_key="batch").action == "deny"
    finally:
        shutdown()
        batch.close()
        web.close()

    state = _budgets(collector, BATCH)
    assert state["api_key"] == "batch"  # the caller's key, by name
    [entry] = state["budgets"]  # only the key that spent has a row
    assert entry["labels"] == {"api_key": "batch"}
    assert entry["state"] == "critical"
    assert _budgets(collector, WEB)["api_key"] == "web"
    assert BATCH not in str(state) and WEB not in str(state)  # names, never the keys
