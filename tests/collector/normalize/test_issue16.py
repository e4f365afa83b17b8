"""Regression tests for the defects found by running real peer libraries (issue 16).

Each builds the span those libraries really send (see tests/peers for the live runs).
"""

from __future__ import annotations

import json
import math

import pytest

from glassline.collector.processors.enrich import EnrichProcessor
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.pricing import cost_usd
from glassline.redaction import RedactionConfig, Redactor
from glassline.semconv import attributes as a

from .support import normalize_one

OPENLIT_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 200,
}


@pytest.mark.parametrize("client_cost", [0, 0.0, -0.5, float("nan"), "0"])
def test_a_client_cost_that_is_no_price_is_priced_from_the_table(client_cost: object) -> None:
    """OpenLIT sends gen_ai.usage.cost = 0 when its price list could not be downloaded."""
    record = normalize_one({**OPENLIT_CALL, "gen_ai.usage.cost": client_cost})
    [record] = EnrichProcessor().process([record])
    want = cost_usd("gpt-4o-mini", input_tokens=1000, output_tokens=200, provider="openai")
    assert want and record.cost_usd == pytest.approx(want)
    assert record.attributes[a.COST_SOURCE] == "collector"
    kept = record.attributes[a.COST_CLIENT_USD]
    assert kept == client_cost or (isinstance(kept, float) and math.isnan(kept))


def test_a_client_cost_of_zero_without_tokens_is_kept() -> None:
    record = normalize_one({"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.cost": 0})
    assert record.cost_usd == 0.0
    assert record.attributes[a.COST_SOURCE] == "client"


def test_openlit_empty_user_is_no_user_id() -> None:
    record = normalize_one({**OPENLIT_CALL, "gen_ai.request.user": ""})
    assert record.user_id is None
    assert a.USER_ID not in record.attributes


def logfire_span(name: str, attrs: dict[str, object], *, start: int, end: int) -> SpanRecord:
    return SpanRecord(
        "acme", "1" * 32, f"{start:016x}", name, start, end, parent_span_id="f" * 16,
        attributes=attrs,
    )  # fmt: skip


def test_a_streamed_logfire_call_counts_once() -> None:
    """Logfire's request span (no usage) plus its 'streaming response' log are ONE call."""
    template = "Chat Completion with {request_data[model]!r}"
    common = {
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
    }
    request = logfire_span(
        template,
        {**common, "logfire.span_type": "span", "logfire.msg_template": template,
         "logfire.msg": "Chat Completion with 'gpt-4o-mini'", "logfire.tags": ["LLM"]},
        start=1_000_000_000, end=1_100_000_000,
    )  # fmt: skip
    stream_template = "streaming response from {request_data[model]!r} took {duration:.2f}s"
    result = logfire_span(
        stream_template,
        {**common, "logfire.span_type": "log", "logfire.msg_template": stream_template,
         "logfire.msg": "streaming response from 'gpt-4o-mini' took 0.50s", "duration": 0.5,
         "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30},
        start=1_600_000_000, end=1_600_000_000,
    )  # fmt: skip
    batch = NormalizeProcessor().process([request, result])
    assert [r.kind for r in batch] == ["other", "llm"]
    assert result.input_tokens == 120
    assert result.end_ns - result.start_ns == 500_000_000  # the stream's duration
    assert request.name == "Chat Completion with 'gpt-4o-mini'"  # rendered, not the template
    assert result.name == "streaming response from 'gpt-4o-mini' took 0.50s"


def test_a_failed_logfire_request_stays_the_model_call() -> None:
    record = logfire_span(
        "Chat Completion with {request_data[model]!r}",
        {"gen_ai.request.model": "gpt-4o-mini", "logfire.span_type": "span", "logfire.tags": ["LLM"]},
        start=1, end=2,
    )  # fmt: skip
    record.status = "error"
    [out] = NormalizeProcessor().process([record])
    assert out.kind == "llm"


def test_logfire_reasoning_tokens_are_read_from_the_raw_usage() -> None:
    raw = {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    record = normalize_one(
        {
            "logfire.span_type": "span",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.raw": json.dumps(raw),
        }
    )
    assert (record.cache_read_tokens, record.reasoning_tokens) == (20, 5)


def test_pydantic_ai_reasoning_detail_is_read() -> None:
    record = normalize_one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.details.reasoning_tokens": 5,
        }
    )
    assert record.reasoning_tokens == 5


def test_an_agent_span_is_a_stage_named_after_its_agent() -> None:
    """pydantic-ai's (and the conventions') invoke_agent span: a stage with a real name."""
    record = normalize_one(
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
        name="invoke_agent support",
    )
    assert (record.kind, record.stage) == ("stage", "support")
    unnamed = normalize_one({"gen_ai.operation.name": "invoke_agent"}, name="agent run")
    assert unnamed.stage == "agent run"


def test_cache_breakdowns_on_agent_spans_are_not_counted() -> None:
    record = normalize_one(
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.cache_write.input_tokens": 7,
        }
    )
    assert (record.cache_read_tokens, record.cache_creation_tokens) == (0, 0)
    assert record.attributes[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20  # kept as sent


@pytest.mark.parametrize(
    "name", ["gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.cache_creation.input_tokens"]
)
def test_cache_write_tokens_are_read_under_both_names_and_written_under_the_new(
    name: str,
) -> None:
    record = normalize_one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-3-5-haiku-20241022",
            "gen_ai.usage.input_tokens": 120,
            name: 50,
        }
    )
    assert record.cache_creation_tokens == 50
    assert record.attributes["gen_ai.usage.cache_write.input_tokens"] == 50


@pytest.mark.parametrize(
    ("operation", "kind"),
    [("plan", "stage"), ("handle_conversation_turn", "stage"), ("invoke_workflow", "stage"),
     ("gen_ai.invocation.internal", "stage"), ("search_memory", "tool"),
     ("create_memory", "tool"), ("retrieval", "tool"), ("generate_content", "llm")],
)  # fmt: skip
def test_current_operation_names_make_their_kind(operation: str, kind: str) -> None:
    assert normalize_one({"gen_ai.operation.name": operation}).kind == kind


def test_modality_counts_are_kept_and_never_added_to_totals() -> None:
    record = normalize_one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.text.input_tokens": 60,
            "gen_ai.usage.image.input_tokens": 40,
        }
    )
    assert record.input_tokens == 100
    assert record.attributes[a.GEN_AI_USAGE_IMAGE_INPUT_TOKENS] == 40


def test_the_operation_exception_event_names_the_error_type() -> None:
    record = SpanRecord("acme", "1" * 32, "2" * 16, "chat gpt-4o", 1, 2, attributes={
        "gen_ai.operation.name": "chat"})  # fmt: skip
    record.events = [
        SpanEvent(a.GEN_AI_CLIENT_OPERATION_EXCEPTION, 2, {"exception.type": "RateLimitError"})
    ]
    [out] = NormalizeProcessor().process([record])
    assert out.attributes[a.ERROR_TYPE] == "RateLimitError"


def test_per_message_finish_reasons_become_the_response_list() -> None:
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "hi"}],
               "finish_reason": "stop"}]  # fmt: skip
    record = normalize_one(
        {"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(output)}
    )
    assert record.attributes[a.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]


def test_default_masking_leaves_the_provider_address_alone() -> None:
    """server.address names the provider's host, infrastructure, not a person."""
    attrs = {"server.address": "10.20.30.40", "server.port": 8000}
    redacted = Redactor(RedactionConfig()).redact_attributes(dict(attrs)).attributes
    assert {k: redacted.get(k) for k in attrs} == attrs
