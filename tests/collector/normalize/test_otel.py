"""OpenTelemetry GenAI conventions: current names pass through, older names are renamed."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

normalized = partial(normalize_one, name="chat gpt-4o")


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "current names: input includes cache, nothing is added",
        {
            a.GEN_AI_OPERATION_NAME: "chat",
            a.GEN_AI_PROVIDER_NAME: "openai",
            a.GEN_AI_REQUEST_MODEL: "gpt-4o",
            a.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
            a.GEN_AI_USAGE_INPUT_TOKENS: 2000,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1536,
            a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.2,
            a.GEN_AI_CONVERSATION_ID: "conv-1",
        },
        {
            "kind": "llm",
            "operation": "chat",
            "provider": "openai",
            "model": "gpt-4o-2024-08-06",
            "input_tokens": 2000,
            "cache_read_tokens": 1536,
            "output_tokens": 50,
            "ttft_ms": 200.0,
            "session_id": "conv-1",
        },
        {a.GEN_AI_USAGE_INPUT_TOKENS: 2000},
    ),
    (
        "older names: gen_ai.system and prompt/completion tokens",
        {
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-1.5-pro",
            "gen_ai.usage.prompt_tokens": 30,
            "gen_ai.usage.completion_tokens": 7,
        },
        {"kind": "llm", "provider": "gcp.vertex_ai", "input_tokens": 30, "output_tokens": 7},
        {
            a.GEN_AI_PROVIDER_NAME: "gcp.vertex_ai",
            a.GEN_AI_USAGE_INPUT_TOKENS: 30,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        },
    ),
    (
        "intermediate cache names with underscores",
        {
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.input_tokens": 1100,
            "gen_ai.usage.cache_read_input_tokens": 1000,
            "gen_ai.usage.cache_creation_input_tokens": 50,
        },
        {"input_tokens": 1100, "cache_read_tokens": 1000, "cache_creation_tokens": 50},
        {
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 50,
        },
    ),
    (
        "glassline extensions fill cache, route, retries",
        {
            a.SPAN_KIND: "stage",
            a.STAGE: "answer",
            a.CACHE_LAYER: "semantic",
            a.CACHE_HIT: "true",
            a.ROUTE_CHOSEN: "gpt-4o-mini",
            a.ROUTE_FALLBACK_FROM: "gpt-4o",
            a.RETRY_COUNT: "2",
            a.TIME_TO_FIRST_CHUNK_MS: 123.5,
        },
        {
            "kind": "stage",
            "stage": "answer",
            "cache_layer": "semantic",
            "cache_hit": True,
            "route": "gpt-4o-mini",
            "fallback": False,  # inherited: no route event on this span
            "retries": 2,
            "ttft_ms": 123.5,
        },
        {},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "expected_attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_genai_convention_attributes_map_to_the_glassline_vocabulary(
    attrs: dict[str, Any], fields: dict[str, Any], expected_attrs: dict[str, Any]
) -> None:
    record = normalized(attrs)
    assert_mapped(record, fields, expected_attrs)


def test_canonical_name_wins_and_the_older_alias_is_kept_verbatim() -> None:
    record = normalized(
        {
            a.GEN_AI_USAGE_INPUT_TOKENS: 10,
            "gen_ai.usage.prompt_tokens": 99,
            "gen_ai.request.model": "m",
        }
    )
    assert record.input_tokens == 10
    assert record.attributes["gen_ai.usage.prompt_tokens"] == 99


def test_sdk_cost_keeps_its_source() -> None:
    record = normalized({a.GEN_AI_REQUEST_MODEL: "gpt-4o", a.COST_USD: 0.01, a.COST_SOURCE: "sdk"})
    assert record.cost_usd == 0.01
    assert record.attributes[a.COST_SOURCE] == "sdk"


def test_a_fallback_counts_once_on_the_span_that_decided_it() -> None:
    """The SDK stamps fallback_from on every later span of the call; only the decision counts."""
    route = {a.ROUTE_CHOSEN: "gpt-4o", a.ROUTE_FALLBACK_FROM: "gpt-4o-mini"}
    decided = SpanEvent(a.ROUTE_EVENT, 1, dict(route))
    primary = SpanEvent(a.ROUTE_EVENT, 0, {a.ROUTE_CHOSEN: "gpt-4o-mini"})
    spans = [
        SpanRecord("acme", "1" * 32, f"{i:016x}", name, 0, 1, parent_span_id="f" * 16,
                   attributes=dict(route), events=events)
        for i, (name, events) in enumerate(
            [("generate", [primary, decided]), ("chat", []), ("attempt 1", [])]
        )
    ]  # fmt: skip
    out = NormalizeProcessor().process(spans)
    assert [s.fallback for s in out] == [True, False, False]
    assert [s.route for s in out] == ["gpt-4o"] * 3
