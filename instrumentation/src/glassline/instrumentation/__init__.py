"""Glassline instrumentation: OpenTelemetry decorators for LLM applications.

Spans carry tokens, cost, cache, route and retry data in the OpenTelemetry GenAI vocabulary
(``glassline.semconv.attributes``). See docs/instrumentation.md.
"""

from __future__ import annotations

from glassline.instrumentation._context import context
from glassline.instrumentation.budget import Budget, BudgetStatus, budget_status
from glassline.instrumentation.clients import (
    instrument_anthropic,
    instrument_litellm,
    instrument_openai,
    uninstrument_anthropic,
    uninstrument_litellm,
    uninstrument_openai,
)
from glassline.instrumentation.decorators import from_arg, llm, stage, tool, workflow
from glassline.instrumentation.evaluations import record_evaluation
from glassline.instrumentation.guard import (
    BudgetExceeded,
    BudgetGuard,
    BudgetPolicy,
    Decision,
    budget_guard,
)
from glassline.instrumentation.online import Call, Score, evaluate
from glassline.instrumentation.records import record_cache, record_response, record_route
from glassline.instrumentation.retry import record_retry, retry
from glassline.instrumentation.setup import export_stats, init, shutdown
from glassline.pricing import ModelPrice, cost_usd

__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetGuard",
    "BudgetPolicy",
    "BudgetStatus",
    "Call",
    "Decision",
    "ModelPrice",
    "Score",
    "budget_guard",
    "budget_status",
    "context",
    "cost_usd",
    "evaluate",
    "export_stats",
    "from_arg",
    "init",
    "instrument_anthropic",
    "instrument_litellm",
    "instrument_openai",
    "llm",
    "record_cache",
    "record_evaluation",
    "record_response",
    "record_retry",
    "record_route",
    "retry",
    "shutdown",
    "stage",
    "tool",
    "uninstrument_anthropic",
    "uninstrument_litellm",
    "uninstrument_openai",
    "workflow",
]
