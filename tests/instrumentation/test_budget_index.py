"""budget_guard: which budgets apply to a call (per user, model, key; filters; keys left out)."""

from __future__ import annotations

from typing import Any

from fake_budgets_api import FakeBudgetsAPI, budget

from glassline.instrumentation import BudgetPolicy, budget_guard
from glassline.instrumentation.guard import BudgetGuard


def test_a_user_budget_applies_to_that_user_only(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.budgets = [budget(1.0), budget(12.0, rule="per-user", user="u-1")]
    guard.refresh()
    assert guard.check(user="u-1").action == "deny"
    assert guard.check(user="u-2").action == "allow"


def test_a_model_budget_applies_to_calls_of_that_model_only(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    # Before, the guard read only user, stage and key labels: a model's exhausted budget
    # denied the tenant's every call, the cheaper model its suggestion named included.
    api.budgets = [budget(12.0, rule="per-model", model="gpt-4o")]
    guard.refresh()
    assert guard.check(tenant="acme", model="gpt-4o").action == "deny"
    assert guard.check(tenant="acme", model="gpt-4o-mini").action == "allow"
    assert guard.check(tenant="acme").action == "allow"  # the call does not say its model


def test_a_budget_kept_per_what_a_call_cannot_say_applies_to_no_call(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    api.budgets = [budget(12.0, rule="per-route", route="fast")]
    guard.refresh()
    assert guard.check(tenant="acme", user="u-1", model="gpt-4o").action == "allow"


def test_a_filtered_budget_applies_to_the_calls_its_filters_count_only(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    # Before, the guard read a budget's labels only: a tenant's budget for gpt-4o denied its
    # gpt-4o-mini calls too, and one user's budget for a stage denied the user's every call.
    def spent(rule: str, filters: dict[str, list[str]], **labels: str) -> dict[str, Any]:
        return {**budget(12.0, rule=rule, **labels), "filters": filters}

    api.budgets = [
        spent("gpt-4o-daily", {"model": ["gpt-4o"]}),
        spent("answers", {"stage": ["answer"]}, user="u-1"),
        spent("premium", {"route": ["premium"]}),
        {**spent("llm-spend", {"span_kind": ["llm"], "tenant": ["initech"]}), "tenant": "initech"},
    ]
    guard.refresh()
    assert guard.check(tenant="acme", model="gpt-4o").budget == "gpt-4o-daily"
    assert guard.check(tenant="acme", model="gpt-4o").action == "deny"
    assert guard.check(tenant="acme", model="gpt-4o-mini").action == "allow"
    assert guard.check(tenant="acme").action == "allow"  # the call does not say its model
    assert guard.check(tenant="acme", user="u-1", stage="answer").action == "deny"
    assert guard.check(tenant="acme", user="u-1", stage="retrieve").action == "allow"
    assert guard.check(tenant="acme", user="u-2", stage="answer").action == "allow"
    # A route filter names what a call cannot say: that budget applies to no call. The span
    # kind and the tenant choose which spend counts: the last budget applies to initech's.
    assert guard.check(tenant="initech", model="gpt-4o-mini").budget == "llm-spend"


def test_each_of_many_users_gets_their_own_budget(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.budgets = [budget(float(n % 12), rule="per-user", user=f"u-{n}") for n in range(100_000)]
    api.budgets.append(budget(9.0, rule="per-user", user="u-7", model="gpt-4o"))
    guard.refresh()
    assert [guard.check(user=f"u-{n}").action for n in (0, 7, 8, 11, 12)] == [
        "allow", "allow", "degrade", "deny", "allow"
    ]  # fmt: skip
    assert guard.check(user="u-7", model="gpt-4o").action == "degrade"  # per user and model
    assert guard.check(user="someone-new", estimated_cost_usd=1.0).action == "allow"


def test_users_the_collector_left_out_are_allowed_a_call_smaller_than_their_headroom(
    api: FakeBudgetsAPI,
) -> None:
    # The guard asks only for the users who spent half their budget's lowest level or more;
    # of the others it knows they spent less than that.
    api.budgets = [budget(9.0, rule="per-user", user="heavy")]
    api.unlisted = [
        {"rule": "per-user", "tenant": "acme", "per": ["user"], "below_usd": 4.0,
         "limit_usd": 10.0, "warn_usd": 8.0}
    ]  # fmt: skip
    closed = BudgetPolicy(fail="closed")
    guards = [budget_guard(url=api.url, refresh_s=3600, default_policy=p) for p in (None, closed)]
    try:
        assert all(g.ready() for g in guards)
        assert all("min_share=0.5" in path for path in api.paths if "budgets" in path)
        for guard in guards:
            assert guard.check(tenant="acme", user="light", estimated_cost_usd=3.9).allowed
            assert guard.check(tenant="acme", user="heavy", estimated_cost_usd=1.0).action == "deny"
            assert (
                guard.check(tenant="acme", user="light", estimated_cost_usd=10.0).action == "deny"
            )
            assert guard.check(tenant="globex", user="light", estimated_cost_usd=10.0).allowed
            assert guard.check(tenant="acme", estimated_cost_usd=10.0).allowed  # no user said
        # Between the two, what the user spent under $4 decides; the policy's fail chooses.
        opened, shut = (
            g.check(tenant="acme", user="light", estimated_cost_usd=5.0) for g in guards
        )
        assert opened.action == "allow"  # as if nothing spent: $5 of a warn level of $8
        assert shut.action == "degrade" and "'light'" in shut.reason  # as if $4: $9 of $8
    finally:
        for guard in guards:
            guard.close()


def test_a_key_a_budgets_filters_leave_out_is_not_judged_by_its_floor(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    api.unlisted = [
        {"rule": "per-key", "tenant": "acme", "per": ["api_key"],
         "filters": {"api_key": ["batch-jobs"]}, "below_usd": 25.0, "limit_usd": 50.0,
         "warn_usd": None}
    ]  # fmt: skip
    guard.refresh()
    assert guard.check(tenant="acme", api_key="web", estimated_cost_usd=60.0).allowed
    assert (
        guard.check(tenant="acme", api_key="batch-jobs", estimated_cost_usd=60.0).action == "deny"
    )
