"""The write path's prepared rows: what ``PreparedBatch`` hands the driver, made once a batch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.storage._insert import prepared_insert
from glassline.collector.storage.models import Span
from glassline.collector.storage.testing import llm_trace
from glassline.collector.storage.writer import SPAN_COLUMNS, PreparedBatch, span_values
from glassline.semconv import attributes as attrs

T0 = 1_790_000_000 * 1_000_000_000
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}


def reference_row(span: SpanRecord) -> dict[str, Any]:
    """A span's ``spans`` row by column, as the writer built it before it made values in order."""
    return {
        "tenant": span.tenant,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "name": span.name,
        "kind": span.kind or "other",
        "otel_kind": span.otel_kind,
        "status": span.status,
        "status_message": span.status_message,
        "service": span.service,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": span.duration_ms,
        "stage": span.stage,
        "operation": span.operation,
        "provider": span.provider,
        "model": span.model,
        "user_id": span.user_id,
        "session_id": span.session_id,
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "cache_read_tokens": span.cache_read_tokens,
        "cache_creation_tokens": span.cache_creation_tokens,
        "reasoning_tokens": span.reasoning_tokens,
        "cost_usd": span.cost_usd,
        "cache_layer": span.cache_layer,
        "cache_hit": span.cache_hit,
        "route": span.route,
        "fallback": span.fallback,
        "retries": span.retries,
        "ttft_ms": span.ttft_ms,
        "attributes": span.attributes,
        "events": [
            {"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes} for e in span.events
        ],
        "resource": span.resource,
    }


def _messages(role: str, *parts: dict[str, Any]) -> str:
    return json.dumps([{"role": role, "parts": list(parts)}], ensure_ascii=False)


def varied_batch() -> list[SpanRecord]:
    """Traces of many shapes: multimodal content, tool calls, no content, a huge attribute,
    text that is not JSON, errors with events, typed fields unset, two resources."""
    shared = {attrs.SERVICE_NAME: "rag-app", "host.name": "h1"}
    other = {attrs.SERVICE_NAME: "worker", "deployment.environment": "prod"}
    spans: list[SpanRecord] = []
    for n in range(12):
        trace = llm_trace(n, T0 + n * 7_000_000_000, user=None if n % 3 else "alice")
        for span in trace:
            span.resource = shared if n % 4 else other
        llm = trace[-1]
        shape = n % 6
        if shape == 0:
            llm.attributes[attrs.GEN_AI_INPUT_MESSAGES] = _messages(
                "user",
                {"type": "text", "content": "what is in this picture? é 中文"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBO"},
            )
        elif shape == 1:
            llm.attributes[attrs.GEN_AI_OUTPUT_MESSAGES] = _messages(
                "assistant",
                {"type": "tool_call", "id": "c1", "name": "search", "arguments": {"q": "refund"}},
            )
            trace[1].attributes[attrs.GEN_AI_TOOL_NAME] = "search"
            trace[1].attributes[attrs.GEN_AI_TOOL_CALL_ARGUMENTS] = '{"q": "refund"}'
        elif shape == 2:
            llm.attributes[attrs.GEN_AI_INPUT_MESSAGES] = _messages(
                "user", {"type": "text", "content": "word " * 20_000}
            )
            llm.attributes["big.list"] = list(range(2000))
        elif shape == 3:
            llm.attributes[attrs.GEN_AI_INPUT_MESSAGES] = '[{"role": "user", "parts": [{"ty'
            llm.attributes[attrs.GEN_AI_SYSTEM_INSTRUCTIONS] = "be brief"
        elif shape == 4:
            llm.status, llm.status_message = "error", "rate limited"
            llm.cost_usd = llm.ttft_ms = llm.cache_hit = None
            llm.events = [
                SpanEvent("exception", T0, {"exception.type": "E", "exception.message": "slow"}),
                SpanEvent("gen_ai.choice", T0 + 1, {"index": 0}),
            ]
        spans += trace
    return spans


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_prepared_rows_are_the_general_paths_parameters(dialect_name: str) -> None:
    """The driver's parameters of each span equal those of its row by column through the same
    statement (the general path), on both databases."""
    dialect: Dialect = DIALECTS[dialect_name]
    batch = varied_batch()
    prepared = PreparedBatch(batch, dialect)
    general = prepared_insert(
        dialect, Span.__table__, ("tenant", "trace_id", "span_id"), SPAN_COLUMNS, any_conflict=True
    )
    rows = [reference_row(span) for span in prepared.spans.values()]
    assert [list(p) for p in prepared.params.values()] == [list(p) for p in general.params(rows)]


def test_span_values_follow_the_columns() -> None:
    for span in varied_batch():
        assert dict(zip(SPAN_COLUMNS, span_values(span), strict=True)) == reference_row(span)
    assert tuple(c.name for c in Span.__table__.c) == SPAN_COLUMNS


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_a_shared_resource_is_encoded_once_a_batch(dialect_name: str) -> None:
    """The spans of one resource (all of a request's, usually) get one JSON text of it, not
    one each: the same parameter object for every span of the run."""
    batch = varied_batch()
    prepared = PreparedBatch(batch, DIALECTS[dialect_name])
    column = SPAN_COLUMNS.index("resource")
    texts = [params[column] for params in prepared.params.values()]
    assert len({id(text) for text in texts}) < len(texts) // 3
    assert [json.loads(t) for t in texts] == [span.resource for span in prepared.spans.values()]
