"""The budget check of a decorated call: ``@llm(budget=guard, max_cost_usd=..., on_exceeded=...)``.

The check runs inside the call's span, before the function body: it estimates the call's cost
(input tokens from the messages' length, times the model's price), applies the per-call cap
(refuse, or trim the oldest messages), asks the guard, and records the decision on the span
(``glassline.budget.*``). A denied call runs ``on_exceeded(*args, **kwargs)`` instead, or
raises :class:`~.guard.BudgetExceeded`. A failure of the check itself allows the call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import trace

from glassline.instrumentation import _context, _safe
from glassline.instrumentation.guard import ALLOW, BudgetExceeded, BudgetGuard, Decision
from glassline.pricing import format_usd, price_of
from glassline.semconv import attributes as attrs

__all__ = ["BudgetCheck", "estimate_cost_usd", "guarded"]

_CHARS_PER_TOKEN = 4  # a rough, provider-neutral estimate; the check needs no tokenizer


def _text_length(messages: Any) -> int:
    if isinstance(messages, str):
        return len(messages)
    total = 0
    for message in messages if isinstance(messages, list | tuple) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return total


def call_model(kwargs: dict[str, Any], model: str | None) -> str | None:
    """The model a call asks for: its ``model=`` argument, else the decorator's."""
    given = kwargs.get("model")
    return given if isinstance(given, str) else model


def estimate_cost_usd(
    kwargs: dict[str, Any], *, model: str | None = None, provider: str | None = None
) -> float:
    """The cost of a call before it is made: input tokens (length / 4) and ``max_tokens`` at
    the model's price; 0.0 when the model is not priced."""
    model = call_model(kwargs, model)
    if not model:
        return 0.0
    price = price_of(model, provider)
    if price is None:
        return 0.0
    messages = kwargs.get("messages", kwargs.get("input", kwargs.get("prompt")))
    tokens = _text_length(messages) // _CHARS_PER_TOKEN
    output = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens") or 0
    cost = price.cost(tokens, output if isinstance(output, int) else 0, 0, 0)
    return float(cost or 0.0)


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """What a decorator was given: the guard, the per-call cap and what to do when denied."""

    guard: BudgetGuard | None
    on_exceeded: Callable[..., Any] | None = None
    max_cost_usd: float | None = None
    on_cap: Literal["refuse", "trim"] = "refuse"
    estimate: bool = False  # @llm: estimate the call's cost from its arguments
    model: str | None = None
    provider: str | None = None

    def decide(self, kwargs: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
        """(the decision, the keyword arguments to call with: trimmed or as given)."""
        out: dict[str, Any] = {}
        estimate = self._estimate(kwargs)
        decision = ALLOW
        if self.max_cost_usd is not None and estimate > self.max_cost_usd:
            if self.on_cap == "trim":
                kwargs, estimate, dropped = self._trim(kwargs, estimate)
                out[attrs.BUDGET_TRIMMED_MESSAGES] = dropped
            if estimate > self.max_cost_usd:
                cap = format_usd(self.max_cost_usd)
                reason = f"estimated {format_usd(estimate)} is above the per-call cap {cap}"
                decision = Decision("deny", reason, "shorten the context or raise the cap")
        if decision is ALLOW and self.guard is not None:
            prop = _context.current_attributes()
            decision = self.guard.check(
                tenant=_str(prop.get(attrs.TENANT_ID)),
                user=_str(prop.get(attrs.USER_ID)),
                stage=_str(prop.get(attrs.STAGE)),
                model=call_model(kwargs, self.model) if self.estimate else None,
                estimated_cost_usd=estimate,
            )
        out[attrs.BUDGET_DECISION] = decision.action
        if self.estimate:
            out[attrs.BUDGET_ESTIMATED_COST_USD] = estimate
        if decision.reason:
            out[attrs.BUDGET_REASON] = decision.reason
        if decision.budget:
            out[attrs.BUDGET_NAME] = decision.budget
        if decision.action == "deny":
            out[attrs.BUDGET_PREVENTED_USD] = estimate
        trace.get_current_span().set_attributes(out)
        return decision, kwargs

    def _estimate(self, kwargs: dict[str, Any]) -> float:
        if not self.estimate:
            return 0.0
        return estimate_cost_usd(kwargs, model=self.model, provider=self.provider)

    def _trim(self, kwargs: dict[str, Any], estimate: float) -> tuple[dict[str, Any], float, int]:
        """Drop the oldest non-system messages (never the last) until under the cap."""
        messages = kwargs.get("messages")
        if not isinstance(messages, list):
            return kwargs, estimate, 0
        kept, dropped = list(messages), 0
        cap = self.max_cost_usd or 0.0
        while estimate > cap:
            index = next((i for i, m in enumerate(kept[:-1]) if not _is_system(m)), None)
            if index is None:
                break
            del kept[index]
            dropped += 1
            estimate = self._estimate({**kwargs, "messages": kept})
        return {**kwargs, "messages": kept}, estimate, dropped

    def denied(self, decision: Decision, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The fallback's result, or BudgetExceeded."""
        if self.on_exceeded is None:
            raise BudgetExceeded(decision)
        return self.on_exceeded(*args, **kwargs)


def _is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") in ("system", "developer")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _decide(check: BudgetCheck, kwargs: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    try:
        return check.decide(kwargs)
    except Exception as exc:  # a broken check must not stop the app's call
        _safe.report("budget check", exc)
        return ALLOW, kwargs


def guarded(fn: Callable[..., Any], check: BudgetCheck) -> Callable[..., Any]:
    """``fn`` behind the budget check (sync or async; wrap it before ``instrument``)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            decision, kwargs = _decide(check, kwargs)
            if decision.action == "deny":
                result = check.denied(decision, args, kwargs)
                return await result if inspect.isawaitable(result) else result
            return await fn(*args, **kwargs)

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        decision, kwargs = _decide(check, kwargs)
        if decision.action == "deny":
            return check.denied(decision, args, kwargs)
        return fn(*args, **kwargs)

    return wrapper
