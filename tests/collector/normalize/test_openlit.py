"""OpenLIT spans, with the names of openlit.semcov.SemanticConvention."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

normalized = partial(normalize_one, name="openai.chat.completions")


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "chat with client cost, reasoning and time to first token",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "o3-mini",
            "gen_ai.response.model": "o3-mini-2025-01-31",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 900,
            "gen_ai.usage.reasoning_tokens": 768,
            "gen_ai.usage.total_tokens": 1020,
            "gen_ai.usage.cost": 0.00409,
            "gen_ai.server.time_to_first_token": 0.35,
            "gen_ai.request.is_stream": True,
            "gen_ai.application_name": "default",
        },
        {
            "kind": "llm",
            "operation": "chat",
            "provider": "openai",
            "model": "o3-mini-2025-01-31",
            "input_tokens": 120,
            "output_tokens": 900,
            "reasoning_tokens": 768,
            "cost_usd": 0.00409,
            "ttft_ms": 350.0,
        },
        {
            a.COST_USD: 0.00409,
            a.COST_SOURCE: "client",
            a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 768,
            a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.35,
            a.GEN_AI_REQUEST_STREAM: True,
            "gen_ai.application_name": "default",
        },
    ),
    (
        "old provider spelling is mapped to the current well-known value",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "az.ai.openai",
            "gen_ai.request.model": "gpt-4o",
        },
        {"provider": "azure.ai.openai"},
        {a.GEN_AI_PROVIDER_NAME: "azure.ai.openai"},
    ),
    (
        "embeddings operation",
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.system": "cohere",
            "gen_ai.request.model": "embed-english-v3.0",
        },
        {"kind": "llm", "operation": "embeddings"},
        {},
    ),
    (
        "openlit agent operation is a stage",
        {"gen_ai.operation.name": "agent", "gen_ai.system": "crewai"},
        {"kind": "stage", "operation": "agent"},
        {},
    ),
    (
        "tool execution",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "calculator"},
        {"kind": "tool"},
        {a.GEN_AI_TOOL_NAME: "calculator"},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "expected_attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_openlit_attributes_map_to_the_glassline_vocabulary(
    attrs: dict[str, Any], fields: dict[str, Any], expected_attrs: dict[str, Any]
) -> None:
    record = normalized(attrs)
    assert_mapped(record, fields, expected_attrs)
    assert "gen_ai.usage.cost" not in record.attributes
    assert "gen_ai.system" not in record.attributes
