"""OpenLLMetry / Traceloop spans, with the names of opentelemetry.semconv_ai.SpanAttributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

normalized = normalize_one


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "anthropic chat: prompt_tokens already include cache read and creation",
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-latest",
            "gen_ai.response.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 1500,
            "gen_ai.usage.completion_tokens": 40,
            "llm.usage.total_tokens": 1540,
            "gen_ai.usage.cache_read_input_tokens": 1024,
            "gen_ai.usage.cache_creation_input_tokens": 400,
            "traceloop.workflow.name": "support_bot",
            "traceloop.association.properties.user_id": "u-7",
            "traceloop.association.properties.session_id": "s-7",
            # Prompt registry attributes (opentelemetry-semantic-conventions-ai 0.5.1)
            "traceloop.prompt.key": "support-answer",
            "traceloop.prompt.version": 3,
            "traceloop.prompt.version_name": "shorter context",
        },
        {
            "prompt_name": "support-answer",
            "prompt_version": "3",
            "kind": "llm",
            "operation": "chat",
            "provider": "anthropic",
            "model": "claude-3-5-sonnet-20241022",
            "input_tokens": 1500,
            "output_tokens": 40,
            "cache_read_tokens": 1024,
            "cache_creation_tokens": 400,
            "user_id": "u-7",
            "session_id": "s-7",
        },
        {
            a.GEN_AI_USAGE_INPUT_TOKENS: 1500,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 400,
            a.GEN_AI_PROVIDER_NAME: "anthropic",
            a.WORKFLOW: "support_bot",
        },
    ),
    (
        "openai embedding",
        {
            "llm.request.type": "embedding",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.prompt_tokens": 8,
        },
        {"kind": "llm", "operation": "embeddings", "input_tokens": 8},
        {a.GEN_AI_OPERATION_NAME: "embeddings"},
    ),
    (
        "task span is a stage named by traceloop.entity.name",
        {"traceloop.span.kind": "task", "traceloop.entity.name": "retrieve"},
        {"kind": "stage", "stage": "retrieve"},
        {a.STAGE: "retrieve", "traceloop.entity.name": "retrieve"},
    ),
    (
        "agent span is a stage that invokes an agent",
        {"traceloop.span.kind": "agent", "traceloop.entity.name": "planner"},
        {"kind": "stage", "stage": "planner", "operation": "invoke_agent"},
        {},
    ),
    (
        "tool span carries the tool name and its input/output as the tool call",
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "web_search",
            "traceloop.entity.input": '{"args": ["otel"], "kwargs": {}}',
            "traceloop.entity.output": '"3 results"',
        },
        {"kind": "tool", "operation": "execute_tool"},
        {
            a.GEN_AI_TOOL_NAME: "web_search",
            a.GEN_AI_TOOL_CALL_ARGUMENTS: '{"args": ["otel"], "kwargs": {}}',
            a.GEN_AI_TOOL_CALL_RESULT: '"3 results"',
        },
    ),
    (
        "streaming flag and finish reason",
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "llm.is_streaming": True,
            "llm.response.finish_reason": "length",
        },
        {"model": "gpt-4o"},
        {a.GEN_AI_REQUEST_STREAM: True, a.GEN_AI_RESPONSE_FINISH_REASONS: ["length"]},
    ),
    (
        "association properties other than user and session are kept verbatim",
        {"traceloop.span.kind": "task", "traceloop.association.properties.tenant": "evil"},
        {"kind": "stage"},
        {"traceloop.association.properties.tenant": "evil"},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "expected_attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_openllmetry_attributes_map_to_the_glassline_vocabulary(
    attrs: dict[str, Any], fields: dict[str, Any], expected_attrs: dict[str, Any]
) -> None:
    record = normalized(attrs)
    assert_mapped(record, fields, expected_attrs)
    assert record.tenant == "acme"


def test_workflow_span_is_the_workflow_and_names_it() -> None:
    record = normalized(
        {"traceloop.span.kind": "workflow", "traceloop.entity.name": "answer_question"},
        name="answer_question.workflow",
        root=True,
    )
    assert record.kind == "workflow"
    assert record.attributes[a.WORKFLOW] == "answer_question"


def test_indexed_prompts_and_completions_fold_into_messages() -> None:
    record = normalized(
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "2+2?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "4",
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "2+2?"}]},
    ]
    assert json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}
    ]
    assert not [
        k for k in record.attributes if k.startswith(("gen_ai.prompt.", "gen_ai.completion."))
    ]


def test_tool_result_message_keeps_its_call_id() -> None:
    record = normalized(
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "tool",
            "gen_ai.prompt.0.content": "22C",
            "gen_ai.prompt.0.tool_call_id": "call_1",
        }
    )
    [message] = json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES]))
    assert message["parts"] == [{"type": "tool_call_response", "id": "call_1", "response": "22C"}]


def test_model_call_inside_a_task_takes_its_stage_from_the_entity_path() -> None:
    record = normalized(
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "traceloop.workflow.name": "rag",
            "traceloop.entity.path": "answer.generate",
        }
    )
    assert (record.kind, record.stage) == ("llm", "generate")
    assert record.attributes[a.STAGE] == "generate"


def test_capitalised_provider_under_the_current_name_is_lower_cased() -> None:
    record = normalized({"llm.request.type": "chat", a.GEN_AI_PROVIDER_NAME: "OpenAI"})
    assert record.provider == "openai"
    assert record.attributes[a.GEN_AI_PROVIDER_NAME] == "openai"


def test_pre_gen_ai_releases_llm_prompts_and_completions_fold_into_messages() -> None:
    record = normalized(
        {
            "llm.request.type": "chat",
            "llm.prompts.0.role": "user",
            "llm.prompts.0.content": "ping",
            "llm.completions.0.role": "assistant",
            "llm.completions.0.content": "pong",
        }
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "ping"}]}
    ]
    assert json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "pong"}]}
    ]
