"""LiteLLM's OpenTelemetry callback (``litellm.callbacks = ["otel"]``), as litellm 1.110.2 writes
its ``litellm_request`` span (litellm/integrations/opentelemetry.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

normalized = partial(normalize_one, name="litellm_request", root=True)

SPAN: dict[str, Any] = {
    "litellm.call_id": "d55858dc-7d74-4e6f-ae0c-0df94ceef03a",
    "llm.request.type": "acompletion",
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
    "gen_ai.usage.total_tokens": 150,
}
OPENAI_USAGE = (
    "{'completion_tokens': 30, 'prompt_tokens': 120, 'total_tokens': 150, "
    "'completion_tokens_details': {'accepted_prediction_tokens': None, 'reasoning_tokens': 5}, "
    "'prompt_tokens_details': {'audio_tokens': None, 'cached_tokens': 20}}"
)
ANTHROPIC_USAGE = (
    "{'completion_tokens': 25, 'prompt_tokens': 120, 'total_tokens': 145, "
    "'completion_tokens_details': {'reasoning_tokens': 0, 'text_tokens': 25}, "
    "'prompt_tokens_details': {'cached_tokens': 40, 'cache_creation_tokens': 50}, "
    "'cache_creation_input_tokens': 50, 'cache_read_input_tokens': 40}"
)

CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "cached and reasoning counts come from the usage object's Python repr",
        {**SPAN, "metadata.usage_object": OPENAI_USAGE, "gen_ai.cost.total_cost": 3.45e-05},
        {
            "kind": "llm",
            "operation": "chat",
            "input_tokens": 120,
            "output_tokens": 30,
            "cache_read_tokens": 20,
            "cache_creation_tokens": 0,
            "reasoning_tokens": 5,
            "cost_usd": 3.45e-05,
        },
        {a.COST_USD: 3.45e-05, a.COST_SOURCE: "client"},
    ),
    (
        "an Anthropic call's cache writes; its input already includes both cached parts",
        {
            **SPAN,
            "gen_ai.system": "anthropic",
            "gen_ai.usage.output_tokens": 25,
            "gen_ai.usage.total_tokens": 145,
            "metadata.usage_object": ANTHROPIC_USAGE,
        },
        {"input_tokens": 120, "cache_read_tokens": 40, "cache_creation_tokens": 50},
        {a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 50},
    ),
    (
        "LiteLLM's own price of 0 (a model it cannot price) is no price",
        {**SPAN, "gen_ai.cost.total_cost": 0.0},
        {"cost_usd": None},
        {a.COST_CLIENT_USD: 0.0},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "canonical"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_litellm_mapping(
    attrs: dict[str, Any], fields: dict[str, Any], canonical: dict[str, Any]
) -> None:
    assert_mapped(normalized(attrs), fields, canonical)


@pytest.mark.parametrize(
    "usage",
    [
        "{'prompt_tokens_details': {'cached_tokens': -3}}",  # a negative count
        "{'prompt_tokens_details': {'cached_tokens': '__import__(\"os\")'}}",  # text, not run
        "__import__('os').system('true')",  # no dict literal: never evaluated
        "{'prompt_tokens_details': " * 200 + "{}" + "}" * 200,  # deeper than any usage
        "{" + "'k': 1, " * 5000 + "}",  # longer than any usage object
        "{'prompt_tokens_details': [1, 2]}",
        "{'unclosed': ",
    ],
    ids=["negative", "text", "code", "deep", "long", "list", "truncated"],
)
def test_a_usage_object_that_is_no_usage_is_ignored(usage: str) -> None:
    record = normalized({**SPAN, "metadata.usage_object": usage})
    assert (record.cache_read_tokens, record.reasoning_tokens) == (0, 0)
    assert (record.input_tokens, record.output_tokens) == (120, 30)
    assert record.attributes["metadata.usage_object"] == usage
