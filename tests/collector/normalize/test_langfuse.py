"""Langfuse spans, with the names of Langfuse's LangfuseOtelSpanAttributes."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

START_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


normalized = partial(normalize_one, start_ns=START_NS, end_ns=START_NS + 2_000_000_000)


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "generation: input excludes the cached part listed beside it",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "gpt-4o",
            "langfuse.observation.usage_details": json.dumps(
                {"input": 200, "input_cached_tokens": 1800, "output": 60}
            ),
            "langfuse.observation.cost_details": json.dumps(
                {"input": 0.001, "output": 0.0006, "total": 0.0016}
            ),
            "langfuse.user.id": "user-3",
            "langfuse.session.id": "chat-3",
            "langfuse.trace.name": "qa",
            "langfuse.observation.completion_start_time": '"2023-11-14T22:13:20.250000Z"',
            "langfuse.observation.prompt.name": "support-answer",
            "langfuse.observation.prompt.version": 7,
        },
        {
            "kind": "llm",
            "operation": "chat",
            "model": "gpt-4o",
            "input_tokens": 2000,
            "cache_read_tokens": 1800,
            "output_tokens": 60,
            "cost_usd": 0.0016,
            "user_id": "user-3",
            "session_id": "chat-3",
            "ttft_ms": 250.0,
            "prompt_name": "support-answer",
            "prompt_version": "7",  # Langfuse numbers versions; rollups key on text
        },
        {
            a.GEN_AI_USAGE_INPUT_TOKENS: 2000,
            a.COST_USD: 0.0016,
            a.COST_SOURCE: "client",
            a.WORKFLOW: "qa",
            a.USER_ID: "user-3",
            a.SESSION_ID: "chat-3",
            a.PROMPT_NAME: "support-answer",
            a.PROMPT_VERSION: 7,
        },
    ),
    (
        "a total equal to input + output means input already includes the cache",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-3-5-sonnet",
            "langfuse.observation.usage_details": json.dumps(
                {"input": 1000, "output": 10, "cache_read_input_tokens": 900, "total": 1010}
            ),
        },
        {"input_tokens": 1000, "cache_read_tokens": 900},
        {},
    ),
    (
        "anthropic-style creation and reasoning are added to input and output once",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-sonnet-4",
            "langfuse.observation.usage_details": json.dumps(
                {
                    "input": 20,
                    "cache_creation_input_tokens": 3000,
                    "output": 100,
                    "output_reasoning_tokens": 400,
                }
            ),
        },
        {
            "input_tokens": 3020,
            "cache_creation_tokens": 3000,
            "output_tokens": 500,
            "reasoning_tokens": 400,
        },
        {},
    ),
    (
        "cost details without a total are summed",
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.cost_details": json.dumps({"input": 0.5, "output": 0.25}),
        },
        {"cost_usd": 0.75},
        {},
    ),
    (
        "tool observation",
        {
            "langfuse.observation.type": "tool",
            "langfuse.observation.input": '{"city": "Oslo"}',
            "langfuse.observation.output": '"rain"',
        },
        {"kind": "tool", "operation": "execute_tool"},
        {
            a.GEN_AI_TOOL_NAME: "get_weather",
            a.GEN_AI_TOOL_CALL_ARGUMENTS: '{"city": "Oslo"}',
            a.GEN_AI_TOOL_CALL_RESULT: '"rain"',
        },
    ),
    (
        "retriever observation is a stage",
        {"langfuse.observation.type": "retriever"},
        {"kind": "stage", "stage": "get_weather"},
        {},
    ),
    (
        "plain span under a trace is other",
        {"langfuse.observation.type": "span"},
        {"kind": "other", "stage": None},
        {},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "expected_attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_langfuse_attributes_map_to_the_glassline_vocabulary(
    attrs: dict[str, Any], fields: dict[str, Any], expected_attrs: dict[str, Any]
) -> None:
    record = normalized(attrs, name="get_weather")
    assert_mapped(record, fields, expected_attrs)


def test_root_plain_span_is_the_workflow() -> None:
    record = normalized({"langfuse.observation.type": "span"}, name="handle_request", root=True)
    assert record.kind == "workflow"


def test_malformed_usage_and_cost_json_is_ignored() -> None:
    record = normalized(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.usage_details": "{not json",
            "langfuse.observation.cost_details": '{"total": "NaN"}',
        }
    )
    assert record.input_tokens == 0
    assert record.cost_usd is None
    assert record.attributes["langfuse.observation.usage_details"] == "{not json"


def test_generation_chat_input_and_output_become_conventions_messages() -> None:
    record = normalized(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": json.dumps(
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
            ),
            "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Hello"}),
        }
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
    ]
    assert json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}
    ]
    assert "langfuse.observation.input" not in record.attributes


def test_generation_input_of_another_shape_is_kept() -> None:
    custom = '{"query": "a plain prompt", "k": 3}'
    record = normalized(
        {"langfuse.observation.type": "generation", "langfuse.observation.input": custom}
    )
    assert record.attributes["langfuse.observation.input"] == custom
    assert a.GEN_AI_INPUT_MESSAGES not in record.attributes


@pytest.mark.parametrize("raw", ["Hello from fake", '"Hello from fake"'])
def test_streamed_completion_as_a_plain_string_becomes_the_output_message(raw: str) -> None:
    """Langfuse's openai integration sends a streamed answer as the bare text (issue 16)."""
    record = normalized(
        {"langfuse.observation.type": "generation", "langfuse.observation.output": raw}
    )
    assert json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello from fake"}]}
    ]
    assert "langfuse.observation.output" not in record.attributes


def test_multimodal_content_becomes_generic_parts() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "x"}},
    ]
    record = normalized(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": json.dumps([{"role": "user", "content": content}]),
        }
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "image_url", "image_url": {"url": "x"}},
            ],
        }
    ]


def test_openai_nested_usage_is_read_fully() -> None:
    """Langfuse's OpenAI integration passes usage in OpenAI's nested shape (issue 16)."""
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "prompt_tokens_details": {"cached_tokens": 800},
        "completion_tokens_details": {"reasoning_tokens": 50},
    }
    record = normalized(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "gpt-4o-mini",
            "langfuse.observation.usage_details": json.dumps(usage),
        }
    )
    assert (record.input_tokens, record.cache_read_tokens) == (1000, 800)
    assert (record.output_tokens, record.reasoning_tokens) == (200, 50)
