"""budget_guard: decisions from the last state, fail open/closed, the decorator form, the cap."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import pytest

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


@pytest.fixture
def api() -> Iterator[FakeBudgetsAPI]:
    running = FakeBudgetsAPI()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


@pytest.fixture
def guard(api: FakeBudgetsAPI) -> Iterator[BudgetGuard]:
    made = budget_guard(url=api.url, api_key="k", refresh_s=3600)  # refreshed by the tests
    assert made.ready()
    try:
        yield made
    finally:
        made.close()


def test_spend_against_warn_and_limit(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.budgets = [budget(5.0)]
    assert guard.refresh()
    assert guard.check(tenant="acme").action == "allow"
    assert guard.check(tenant="acme", estimated_cost_usd=3.5).action == "degrade"
    denied = guard.check(tenant="acme", estimated_cost_usd=5.0)
    assert denied.action == "deny" and denied.budget == "daily" and "$10" in denied.reason
    assert guard.check(tenant="globex", estimated_cost_usd=5.0).action == "allow"
    assert guard.stats()["denied"] == 1 and guard.stats()["prevented_usd"] == 5.0


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


def test_kill_switches_by_tenant_and_stage(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.switches = [{"tenant": "acme", "stage": "generate", "reason": "runaway loop"}]
    guard.refresh()
    assert guard.check(tenant="acme", stage="retrieve").action == "allow"
    stopped = guard.check(tenant="acme", stage="generate")
    assert stopped.action == "deny" and "runaway loop" in stopped.reason
    api.switches = [{"tenant": "acme", "stage": None, "reason": ""}]
    guard.refresh()
    assert guard.check(tenant="acme", stage="retrieve").action == "deny"
    assert guard.check(tenant="globex").action == "allow"


def test_kill_switches_are_read_page_by_page(api: FakeBudgetsAPI, guard: BudgetGuard) -> None:
    api.page_size = 2
    api.switches = [{"tenant": t, "stage": None, "reason": ""} for t in "abcde"]
    assert guard.refresh()
    assert [guard.check(tenant=t).action for t in "abcdef"] == ["deny"] * 5 + ["allow"]


def test_the_first_kill_switch_listed_that_stops_a_call_is_the_one_named(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    api.switches = [
        {"tenant": "acme", "stage": "generate", "reason": "loop"},
        {"tenant": "acme", "stage": None, "reason": "all of acme"},
        {"tenant": "globex", "stage": "generate", "reason": "globex loop"},
    ]
    guard.refresh()
    assert "stage 'generate': loop" in guard.check(tenant="acme", stage="generate").reason
    assert "all of acme" in guard.check(tenant="acme", stage="retrieve").reason
    assert "all of acme" in guard.check(tenant="acme").reason
    assert "globex loop" in guard.check(tenant="globex", stage="generate").reason
    assert guard.check(tenant="globex", stage="retrieve").action == "allow"
    assert "loop" in guard.check(stage="generate").reason  # no tenant named: any tenant's
    assert "all of acme" in guard.check().reason


def _lines_run(call: Callable[[], object]) -> int:
    """How many lines of Python ``call`` executes (a count of work, not a time)."""
    lines = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        lines += event == "line"
        return trace

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return lines


def test_a_call_is_checked_against_its_own_kill_switches_not_every_one(
    api: FakeBudgetsAPI, guard: BudgetGuard
) -> None:
    # A gateway's guard (an admin key) sees every tenant's switches, and a tenant may stop many
    # stages: scanned on every call, 5,000 switches took an allowed call from 0.35 to 137 µs.
    def switches(n: int) -> list[dict[str, Any]]:
        return [{"tenant": f"tenant-{k:05d}", "stage": None, "reason": ""} for k in range(n)] + [
            {"tenant": "acme", "stage": f"stage-{k:05d}", "reason": ""} for k in range(n)
        ]

    api.switches = switches(3)
    guard.refresh()
    few = _lines_run(lambda: guard.check(tenant="acme", stage="generate"))
    api.switches = switches(5000)
    guard.refresh()
    many = _lines_run(lambda: guard.check(tenant="acme", stage="generate"))
    assert many == few
    assert guard.check(tenant="acme", stage="generate").action == "allow"
    assert guard.check(tenant="acme", stage="stage-04999").action == "deny"
    assert guard.check(tenant="tenant-04999").action == "deny"


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
