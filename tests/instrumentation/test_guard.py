"""budget_guard: decisions from the last state, fail open/closed, the decorator form, the cap.

Which budgets apply to a call: test_budget_index.py; kill switches: test_kill_switches.py.
"""

from __future__ import annotations

import pytest
from fake_budgets_api import FakeBudgetsAPI, budget

from glassline.instrumentation import (
    BudgetExceeded,
    BudgetPolicy,
    budget_guard,
    context,
    llm,
    stage,
    workflow,
)
from glassline.instrumentation._budget import estimate_cost_usd
from glassline.instrumentation.guard import BudgetGuard
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


def test_spend_against_warn_and_limit(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.budgets = [budget(5.0)]
    assert guard.refresh()
    assert guard.check(tenant="acme").action == "allow"
    assert guard.check(tenant="acme", estimated_cost_usd=3.5).action == "degrade"
    denied = guard.check(tenant="acme", estimated_cost_usd=5.0)
    assert denied.action == "deny" and denied.budget == "daily" and "$10" in denied.reason
    assert guard.check(tenant="globex", estimated_cost_usd=5.0).action == "allow"
    assert guard.stats()["denied"] == 1 and guard.stats()["prevented_usd"] == 5.0


def test_policies_per_rule(api: FakeBudgetsAPI) -> None:
    api.budgets = [budget(9.0)]
    soft = budget_guard(
        url=api.url, refresh_s=3600, policies={"daily": BudgetPolicy(on_warn="allow")}
    )
    try:
        assert soft.ready()
        assert soft.check().action == "allow"
    finally:
        soft.close()


def test_unreachable_collector_fails_open_or_closed_as_documented() -> None:
    url = "http://127.0.0.1:9"  # nothing listens: every refresh fails
    opened = budget_guard(url=url, refresh_s=3600)
    closed = budget_guard(url=url, refresh_s=3600, default_policy=BudgetPolicy(fail="closed"))
    try:
        assert opened.ready() and closed.ready()
        assert opened.stats()["refresh_failures"] == 1
        assert opened.check().action == "allow"
        assert closed.check().action == "deny"
    finally:
        opened.close()
        closed.close()


def test_the_last_state_holds_while_the_collector_is_away(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    api.budgets = [budget(11.0)]
    guard.refresh()
    api.server.shutdown()
    api.server.server_close()
    assert not guard.refresh()
    assert guard.check().action == "deny"  # not stale yet (stale_after_s=60)


def test_the_decorator_records_the_decision_and_falls_back(
    api: FakeBudgetsAPI, guard: BudgetGuard, spans: SpanCapture
) -> None:
    api.budgets = [budget(11.0, user="u-1")]
    guard.refresh()
    calls: list[str] = []

    def cheaper(*, model: str, messages: list[dict[str, str]]) -> str:
        return "fallback"

    @llm(provider="openai", budget=guard, on_exceeded=cheaper)
    def chat(*, model: str, messages: list[dict[str, str]]) -> str:
        calls.append(model)
        return "answer"

    @workflow("ask", budget=guard)
    def ask() -> str:
        return chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi " * 100}])

    with context(tenant="acme", user="u-2"):
        assert ask() == "answer"
    with context(tenant="acme", user="u-1"), pytest.raises(BudgetExceeded):
        ask()  # the workflow is denied first: no fallback given there
    assert calls == ["gpt-4o-mini"]
    allowed = dict(spans.named("chat gpt-4o-mini")[0].attributes or {})
    assert allowed[a.BUDGET_DECISION] == "allow"
    assert float(str(allowed[a.BUDGET_ESTIMATED_COST_USD])) > 0
    denied = dict(spans.named("ask")[-1].attributes or {})
    assert denied[a.BUDGET_DECISION] == "deny" and denied[a.BUDGET_NAME] == "daily"

    @stage("generate")
    def generate() -> str:
        return chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    with context(user="u-1"):
        assert generate() == "fallback"
    span = dict(spans.named("chat gpt-4o-mini")[-1].attributes or {})
    assert span[a.BUDGET_DECISION] == "deny" and a.BUDGET_PREVENTED_USD in span


def test_the_decorator_checks_the_model_the_call_asks_for(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    api.budgets = [budget(12.0, rule="per-model", model="gpt-4o")]
    guard.refresh()

    @llm(provider="openai", budget=guard, on_exceeded=lambda **kwargs: "fallback")
    def chat(*, model: str, messages: list[dict[str, str]]) -> str:
        return "answer"

    hello = [{"role": "user", "content": "hi"}]
    with context(tenant="acme"):
        assert chat(model="gpt-4o", messages=hello) == "fallback"
        assert chat(model="gpt-4o-mini", messages=hello) == "answer"


def test_the_per_call_cap_refuses_or_trims(spans: SpanCapture) -> None:
    long = [{"role": "system", "content": "be brief"}] + [
        {"role": "user", "content": "x" * 40_000} for _ in range(4)
    ]
    one = estimate_cost_usd({"model": "gpt-4o-mini", "messages": long[:2]}, provider="openai")
    seen: list[int] = []

    @llm(provider="openai", max_cost_usd=one * 1.5)
    def refuse(*, model: str, messages: list[dict[str, str]]) -> str:
        return "called"

    @llm(provider="openai", max_cost_usd=one * 1.5, on_cap="trim")
    def trim(*, model: str, messages: list[dict[str, str]]) -> str:
        seen.append(len(messages))
        return "called"

    with pytest.raises(BudgetExceeded, match="per-call cap"):
        refuse(model="gpt-4o-mini", messages=long)
    assert trim(model="gpt-4o-mini", messages=long) == "called"
    assert seen == [2]  # the system message and the last one
    trimmed = dict(spans.named("chat gpt-4o-mini")[-1].attributes or {})
    assert trimmed[a.BUDGET_TRIMMED_MESSAGES] == 3 and trimmed[a.BUDGET_DECISION] == "allow"
