"""Glassline instrumentation: OpenTelemetry decorators for LLM applications.

Spans carry tokens, cost, cache, route and retry data in the OpenTelemetry GenAI vocabulary
(``glassline.instrumentation.attributes``). See docs/instrumentation.md.
"""

from __future__ import annotations

from glassline.instrumentation._context import context
from glassline.instrumentation.decorators import from_arg, llm, stage, tool, workflow
from glassline.instrumentation.pricing import ModelPrice, cost_usd

__all__ = [
    "ModelPrice",
    "context",
    "cost_usd",
    "from_arg",
    "llm",
    "stage",
    "tool",
    "workflow",
]
