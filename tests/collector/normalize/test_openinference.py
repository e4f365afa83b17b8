"""OpenInference spans, with the names of openinference.semconv.trace.SpanAttributes."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as a

from .support import assert_mapped, normalize_one

normalized = partial(normalize_one, start_ns=1_000_000_000, end_ns=2_000_000_000)


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "llm span with cache read and write",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-sonnet-20241022",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.token_count.prompt": 1200,
            "llm.token_count.completion": 80,
            "llm.token_count.total": 1280,
            "llm.token_count.prompt_details.cache_read": 1000,
            "llm.token_count.prompt_details.cache_write": 100,
            "session.id": "sess-1",
            "user.id": "user-1",
        },
        {
            "kind": "llm",
            "operation": "chat",
            "provider": "anthropic",
            "model": "claude-3-5-sonnet-20241022",
            "input_tokens": 1200,
            "output_tokens": 80,
            "cache_read_tokens": 1000,
            "cache_creation_tokens": 100,
            "session_id": "sess-1",
            "user_id": "user-1",
        },
        {
            a.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
            a.GEN_AI_REQUEST_MODEL: "claude-3-5-sonnet-20241022",
            a.GEN_AI_PROVIDER_NAME: "anthropic",
        },
    ),
    (
        "prompt count without the cached part is completed, not double counted",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-haiku",
            "llm.token_count.prompt": 50,
            "llm.token_count.completion": 10,
            "llm.token_count.prompt_details.cache_read": 900,
        },
        {"input_tokens": 950, "cache_read_tokens": 900, "output_tokens": 10},
        {a.GEN_AI_USAGE_INPUT_TOKENS: 950},
    ),
    (
        "total that only adds up with the cached part marks the prompt as exclusive",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-haiku",
            "llm.token_count.prompt": 2000,
            "llm.token_count.completion": 10,
            "llm.token_count.total": 2510,
            "llm.token_count.prompt_details.cache_write": 500,
        },
        {"input_tokens": 2500, "cache_creation_tokens": 500},
        {},
    ),
    (
        "response model wins over request model; reasoning and client cost",
        {
            "openinference.span.kind": "LLM",
            "llm.request.model_name": "gpt-5",
            "llm.response.model_name": "gpt-5-2025-08-07",
            "llm.system": "openai",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 300,
            "llm.token_count.completion_details.reasoning": 256,
            "llm.cost.total": 0.0042,
            "llm.finish_reason": "stop",
        },
        {
            "model": "gpt-5-2025-08-07",
            "provider": "openai",
            "reasoning_tokens": 256,
            "output_tokens": 300,
            "cost_usd": 0.0042,
        },
        {
            a.COST_USD: 0.0042,
            a.COST_SOURCE: "client",
            a.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
            a.GEN_AI_REQUEST_MODEL: "gpt-5",
            a.GEN_AI_RESPONSE_MODEL: "gpt-5-2025-08-07",
        },
    ),
    (
        "prompt and completion costs add up to the client cost when no total",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.cost.prompt": 0.25,
            "llm.cost.completion": 0.5,
        },
        {"cost_usd": 0.75},
        {a.COST_SOURCE: "client"},
    ),
    (
        "embedding span",
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "llm.token_count.prompt": 12,
        },
        {"kind": "llm", "operation": "embeddings", "model": "text-embedding-3-small"},
        {a.GEN_AI_OPERATION_NAME: "embeddings"},
    ),
    (
        "tool span: name and input/output become the tool call",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search",
            "tool.id": "call_1",
            "input.value": '{"q": "otel"}',
            "output.value": "3 hits",
        },
        {"kind": "tool", "operation": "execute_tool"},
        {
            a.GEN_AI_TOOL_NAME: "search",
            a.GEN_AI_TOOL_CALL_ID: "call_1",
            a.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "otel"}',
            a.GEN_AI_TOOL_CALL_RESULT: "3 hits",
        },
    ),
    (
        "retriever inside a chain is a stage named after the span",
        {"openinference.span.kind": "RETRIEVER", "input.value": "what is otel"},
        {"kind": "stage", "stage": "retrieve_docs"},
        {a.STAGE: "retrieve_docs", "input.value": "what is otel"},
    ),
    (
        "agent span is a stage that invokes an agent",
        {"openinference.span.kind": "AGENT"},
        {"kind": "stage", "stage": "retrieve_docs", "operation": "invoke_agent"},
        {},
    ),
    (
        "invocation parameters become request attributes",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.invocation_parameters": '{"temperature": 0.2, "max_tokens": 256, "stream": true}',
        },
        {"model": "gpt-4o-mini"},
        {
            a.GEN_AI_REQUEST_TEMPERATURE: 0.2,
            a.GEN_AI_REQUEST_MAX_TOKENS: 256,
            a.GEN_AI_REQUEST_STREAM: True,
        },
    ),
]


@pytest.mark.parametrize(
    ("attrs", "fields", "expected_attrs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_openinference_attributes_map_to_the_glassline_vocabulary(
    attrs: dict[str, Any], fields: dict[str, Any], expected_attrs: dict[str, Any]
) -> None:
    record = normalized(attrs, name="retrieve_docs")
    assert_mapped(record, fields, expected_attrs)


def test_renamed_openinference_names_are_gone_and_unknown_ones_kept() -> None:
    record = normalized(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 5,
            "metadata": '{"team": "search"}',
            "tag.tags": ["a", "b"],
        }
    )
    assert "llm.model_name" not in record.attributes
    assert "llm.token_count.prompt" not in record.attributes
    assert record.attributes["metadata"] == '{"team": "search"}'
    assert record.attributes["tag.tags"] == ["a", "b"]
    assert record.attributes["openinference.span.kind"] == "LLM"


def test_flattened_messages_fold_into_conventions_json() -> None:
    record = normalized(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "You are terse.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "Weather in Paris?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_9",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "weather",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
        }
    )
    inputs = json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES]))
    outputs = json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES]))
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    assert outputs == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_9",
                    "name": "weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        }
    ]
    assert not [k for k in record.attributes if k.startswith("llm.input_messages.")]


def test_plain_text_input_value_on_an_llm_span_becomes_the_input_message() -> None:
    record = normalized(
        {"openinference.span.kind": "LLM", "input.value": "hi", "output.value": "hello"}
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert "input.value" not in record.attributes


def test_json_request_body_in_input_value_is_left_alone() -> None:
    body = '{"model": "gpt-4o", "messages": []}'
    record = normalized(
        {
            "openinference.span.kind": "LLM",
            "input.value": body,
            "input.mime_type": "application/json",
        }
    )
    assert record.attributes["input.value"] == body
    assert a.GEN_AI_INPUT_MESSAGES not in record.attributes


def test_root_chain_is_the_workflow() -> None:
    record = normalized({"openinference.span.kind": "CHAIN"}, name="RAGPipeline", root=True)
    assert record.kind == "workflow"
    assert record.stage is None
    assert record.attributes[a.WORKFLOW] == "RAGPipeline"


def test_llm_under_a_chain_inherits_the_chain_name_as_stage_within_a_batch() -> None:
    def make(span_id: str, parent: str | None, name: str, kind: str) -> SpanRecord:
        return SpanRecord(
            tenant="acme",
            trace_id="1" * 32,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            start_ns=0,
            end_ns=1,
            attributes={"openinference.span.kind": kind},
        )

    llm = make("c" * 16, "b" * 16, "ChatOpenAI", "LLM")
    chain = make("b" * 16, "a" * 16, "generate", "CHAIN")
    root = make("a" * 16, None, "pipeline", "CHAIN")
    NormalizeProcessor().process([llm, chain, root])
    assert (root.kind, root.stage) == ("workflow", None)
    assert (chain.kind, chain.stage) == ("stage", "generate")
    assert (llm.kind, llm.stage) == ("llm", "generate")
    assert llm.attributes[a.STAGE] == "generate"


def test_completions_api_prompts_and_choices_fold_into_messages() -> None:
    record = normalized(
        {
            "openinference.span.kind": "LLM",
            "llm.prompts.0.prompt.text": "Once upon a time",
            "llm.choices.0.completion.text": " there was a span.",
        }
    )
    assert json.loads(str(record.attributes[a.GEN_AI_INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Once upon a time"}]}
    ]
    assert json.loads(str(record.attributes[a.GEN_AI_OUTPUT_MESSAGES])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": " there was a span."}]}
    ]
