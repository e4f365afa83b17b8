"""``budget_guard()``: enforce the collector's budgets and kill switches at run time.

A background thread fetches ``/api/v1/budgets`` and ``/api/v1/kill-switches`` every
``refresh_s`` and swaps in an immutable snapshot; :meth:`BudgetGuard.check` only reads that
snapshot (no network call, no lock on the way to "allow"), so it answers in about a
microsecond. When the collector cannot be reached, the last state is used until it is
``stale_after_s`` old; after that (and before the first answer) each budget's policy decides:
``fail="open"`` allows, ``fail="closed"`` denies.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from glassline.instrumentation import _safe
from glassline.instrumentation._api import get_json
from glassline.instrumentation._budget_index import (
    Kept,
    Listed,
    Unlisted,
    index,
    listed_of,
    passes,
    unlisted_of,
)
from glassline.instrumentation._kill_switches import Switches, read_kill_switches
from glassline.instrumentation.budget import BUDGETS_PATH, api_url
from glassline.instrumentation.setup import connection
from glassline.pricing import format_usd

__all__ = ["BudgetExceeded", "BudgetGuard", "BudgetPolicy", "Decision", "budget_guard"]

Action = Literal["allow", "degrade", "deny"]
_SEVERITY = {"allow": 0, "degrade": 1, "deny": 2}
_SAID = {"api_key": "API key"}  # a label's name in a reason, where it is not the name itself


@dataclass(frozen=True, slots=True)
class Decision:
    """What a guard answers: ``allow``, ``degrade`` (go on, cheaper) or ``deny``."""

    action: Action
    reason: str = ""
    suggestion: str = ""
    budget: str | None = None

    @property
    def allowed(self) -> bool:
        """False only for ``deny``."""
        return self.action != "deny"


ALLOW = Decision("allow")


class BudgetExceeded(Exception):
    """Raised by a guarded ``@llm``/``@workflow`` call that was denied (no ``on_exceeded``)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason or "budget exceeded")
        self.decision = decision


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """How a guard answers for one budget rule.

    ``on_warn`` / ``on_critical``: the answer once spend (plus the call's estimate) reaches the
    rule's ``warn_usd`` / ``limit_usd``. ``fail``: the answer when the state is unknown or
    stale (collector unreachable): ``"open"`` allows, ``"closed"`` denies.
    """

    on_warn: Action = "degrade"
    on_critical: Action = "deny"
    fail: Literal["open", "closed"] = "open"
    suggestion: str = "use a cheaper model or a shorter context"


@dataclass(frozen=True, slots=True)
class _Snapshot:
    kept: tuple[Kept, ...] = ()
    rules: frozenset[str] = frozenset()
    switches: Switches = field(default_factory=Switches)
    api_key: str | None = None  # the name the collector knows the guard's own key by
    at: float = 0.0  # monotonic time of the fetch; 0: never fetched


@dataclass
class _Counts:
    degraded: int = 0
    denied: int = 0
    prevented_usd: float = 0.0
    refreshes: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class BudgetGuard:
    """Budgets and kill switches kept fresh in the background; :meth:`check` decides locally."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        refresh_s: float = 5.0,
        stale_after_s: float = 60.0,
        policies: Mapping[str, BudgetPolicy] | None = None,
        default_policy: BudgetPolicy | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self._base = base_url
        self._key = api_key
        self.refresh_s = refresh_s
        self._stale_after = stale_after_s
        self._policies = dict(policies or {})
        self._default = default_policy or BudgetPolicy()
        self._timeout = timeout_s
        self._snapshot = _Snapshot()
        self._counts = _Counts()
        self._refreshed = threading.Condition()
        self._started = self._finished = 0  # refresh attempts, numbered in start order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="glassline-budget", daemon=True)
        self._thread.start()

    # --- the request path ---------------------------------------------------------------

    def check(
        self,
        *,
        tenant: str | None = None,
        user: str | None = None,
        stage: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        estimated_cost_usd: float = 0.0,
    ) -> Decision:
        """Allow, degrade or deny a call of ``tenant``/``user``/``stage`` costing about this much.

        Reads the last snapshot only. Kill switches deny first; then every budget that applies
        (the tenant's, and those kept per user, stage, API key or model for the call's) is
        compared with its spend plus the estimate. A budget kept per, or filtered by,
        something the call does not give (``per: route``, ``filters: {model: gpt-4o}``
        without ``model``) does not apply; nor does one whose filters leave the call out.
        ``api_key`` is a key's NAME as the collector's ``auth.tenants`` gives it; by default
        the name of the key this guard (and so, usually, the app) uses.
        """
        snap = self._snapshot
        switch = snap.switches.first(tenant, stage)
        if switch is not None:
            _, switch_tenant, switch_stage, reason = switch
            where = f"stage {switch_stage!r}" if switch_stage else f"tenant {switch_tenant!r}"
            text = f"kill switch on {where}" + (f": {reason}" if reason else "")
            return self._count(Decision("deny", text), estimated_cost_usd)
        if not snap.at or time.monotonic() - snap.at > self._stale_after:
            return self._unknown(snap, estimated_cost_usd)
        call = (user, stage, api_key or snap.api_key, model)  # as _budget_index.CALL_FIELDS
        worst = ALLOW
        for kept in snap.kept:
            key = kept.key_of(call)
            found = kept.by_values.get(key, ())
            for budget in found:
                if budget.spend + estimated_cost_usd < budget.lowest:
                    continue  # the common answer, allow, takes no further work
                if tenant is not None and budget.tenant is not None and budget.tenant != tenant:
                    continue
                if not passes(budget.filters, call):
                    continue  # a budget of another model (stage, user): not this call's
                decision = self._judge(budget, estimated_cost_usd)
                if _SEVERITY[decision.action] > _SEVERITY[worst.action]:
                    worst = decision
            for rule in kept.unlisted:
                if rule.below + estimated_cost_usd < rule.lowest:
                    continue  # whatever the key spent under the floor, the call is allowed
                decision = self._judge_unlisted(rule, kept, call, found, tenant, estimated_cost_usd)
                if _SEVERITY[decision.action] > _SEVERITY[worst.action]:
                    worst = decision
        return worst if worst is ALLOW else self._count(worst, estimated_cost_usd)

    def _judge(self, budget: Listed, estimate: float) -> Decision:
        policy = self._policies.get(budget.rule, self._default)
        projected = budget.spend + estimate
        if projected >= budget.limit:
            action, level = policy.on_critical, "limit"
        elif budget.warn is not None and projected >= budget.warn:
            action, level = policy.on_warn, "warning level"
        else:
            return ALLOW
        if action == "allow":
            return ALLOW
        who = "".join(f" for {_SAID.get(name, name)} {value!r}" for name, value in budget.labels)
        reason = (
            f"budget {budget.rule!r}{who}: {format_usd(projected)} of {format_usd(budget.limit)} "
            f"reaches its {level}"
        )
        return Decision(action, reason, policy.suggestion, budget.rule)

    def _judge_unlisted(
        self,
        rule: Unlisted,
        kept: Kept,
        call: tuple[str | None, ...],
        found: tuple[Listed, ...],
        tenant: str | None,
        estimate: float,
    ) -> Decision:
        """A call large enough that a key's spend under the floor matters, for a key the
        collector did not list: its spend is unknown, so the rule's ``fail`` policy decides
        between none (open) and the floor (closed)."""
        key = kept.key_of(call)
        values = key if isinstance(key, tuple) else (key,)
        if None in values or (tenant is not None and rule.tenant not in (None, tenant)):
            return ALLOW  # the call does not say the key, or is another tenant's
        if not passes(rule.filters, call):
            return ALLOW  # a call the budget's filters leave out: it has no budget here
        if any(b.rule == rule.rule and b.tenant == rule.tenant for b in found):
            return ALLOW  # listed: judged with its spend
        closed = self._policies.get(rule.rule, self._default).fail == "closed"
        budget = Listed(
            rule=rule.rule,
            tenant=rule.tenant,
            labels=tuple(zip(kept.names, map(str, values), strict=True)),
            spend=rule.below if closed else 0.0,
            limit=rule.limit,
            warn=rule.warn,
            lowest=rule.lowest,
            filters=rule.filters,
        )
        return self._judge(budget, estimate)

    def _unknown(self, snap: _Snapshot, estimate: float) -> Decision:
        policies = [self._policies.get(r, self._default) for r in snap.rules] or [self._default]
        policies += list(self._policies.values())
        if any(p.fail == "closed" for p in policies):
            reason = "budget state unknown (collector unreachable or state stale); fail closed"
            return self._count(Decision("deny", reason), estimate)
        return ALLOW

    def _count(self, decision: Decision, estimate: float) -> Decision:
        with self._counts.lock:
            if decision.action == "deny":
                self._counts.denied += 1
                self._counts.prevented_usd += estimate
            else:
                self._counts.degraded += 1
        return decision

    def stats(self) -> dict[str, float]:
        """Calls degraded and denied, USD prevented (estimates of denied calls), refreshes."""
        c = self._counts
        with c.lock:
            return {
                "degraded": c.degraded,
                "denied": c.denied,
                "prevented_usd": c.prevented_usd,
                "refreshes": c.refreshes,
                "refresh_failures": c.failures,
            }

    # --- the background refresh -----------------------------------------------------------

    def ready(self, timeout: float = 30.0) -> bool:
        """Block until the first refresh attempt has finished (True) or ``timeout`` passed."""
        with self._refreshed:
            return self._refreshed.wait_for(lambda: self._finished > 0, timeout)

    def wait_for_refresh(self, timeout: float = 30.0) -> bool:
        """Block until a refresh that started after this call has finished, or ``timeout``.

        What a test (or an operator's script) awaits after changing the collector's state.
        """
        with self._refreshed:
            target = self._started + 1
            return self._refreshed.wait_for(lambda: self._finished >= target, timeout)

    def refresh(self) -> bool:
        """Fetch the state now (the thread does this every ``refresh_s``); False on failure."""
        with self._refreshed:
            self._started += 1
            number = self._started
        try:
            # Of a key left out, a call smaller than the rest of its budget's level is allowed
            # whatever it spent: the answer's "unlisted" says that level.
            state = self._get(BUDGETS_PATH, missing_ok=True)
            budgets = state.get("budgets", [])
            unlisted = [unlisted_of(item) for item in state.get("unlisted", [])]
            switches = read_kill_switches(self._get)
            found = [listed_of(item) for item in budgets]
            snapshot = _Snapshot(
                kept=index(found, unlisted),
                rules=frozenset([b.rule for b in found] + [u.rule for _, u in unlisted]),
                switches=Switches.of(
                    (str(s["tenant"]), str(s.get("stage") or ""), str(s.get("reason") or ""))
                    for s in switches
                ),
                api_key=state.get("api_key"),
                at=time.monotonic(),
            )
        except Exception as exc:  # the collector down or odd: keep the last state
            _safe.report("budget guard refresh", exc)
            self._finish(number, ok=False)
            return False
        self._snapshot = snapshot  # one reference swap: check() never sees half a state
        self._finish(number, ok=True)
        return True

    def _finish(self, number: int, *, ok: bool) -> None:
        with self._refreshed:
            self._finished = max(self._finished, number)
            if ok:
                self._counts.refreshes += 1
            else:
                self._counts.failures += 1
            self._refreshed.notify_all()

    def _get(self, path: str, missing_ok: bool = False) -> dict[str, Any]:
        try:
            payload = get_json(self._base + path, api_key=self._key, timeout_s=self._timeout)
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:  # the collector has no budget rules
                return {}
            raise
        return payload if isinstance(payload, dict) else {}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_s)

    def close(self) -> None:
        """Stop the background refresh."""
        self._stop.set()
        self._thread.join(self._timeout + 1.0)


def budget_guard(
    *,
    url: str | None = None,
    api_key: str | None = None,
    refresh_s: float = 5.0,
    stale_after_s: float = 60.0,
    policies: Mapping[str, BudgetPolicy] | None = None,
    default_policy: BudgetPolicy | None = None,
) -> BudgetGuard:
    """A guard on the collector of :func:`init` (or ``url`` / ``GLASSLINE_API_URL``).

    Starts its refresh thread; the first state arrives within one request's time
    (:meth:`BudgetGuard.ready` waits for it). Raises ValueError without a URL.
    """
    base = api_url(url)
    if base is None:
        raise ValueError("budget_guard: no collector URL: pass url= or call init()")
    if refresh_s <= 0 or stale_after_s <= 0:
        raise ValueError("budget_guard: refresh_s and stale_after_s must be > 0")
    key = api_key or connection().api_key or os.environ.get("GLASSLINE_API_KEY")
    return BudgetGuard(
        base_url=base,
        api_key=key,
        refresh_s=refresh_s,
        stale_after_s=stale_after_s,
        policies=policies,
        default_policy=default_policy,
    )
