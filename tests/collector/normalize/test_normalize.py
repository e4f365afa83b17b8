"""Rules of normalization that hold whatever library sent the span."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as a


def span(attrs: dict[str, Any], *, root: bool = False, tenant: str = "acme") -> SpanRecord:
    return SpanRecord(
        tenant=tenant,
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None if root else "3" * 16,
        name="work",
        start_ns=0,
        end_ns=1,
        attributes=dict(attrs),
    )


def normalized(attrs: dict[str, Any], *, root: bool = False) -> SpanRecord:
    processor = NormalizeProcessor()
    [out] = processor.process([span(attrs, root=root)])
    assert processor.failures == 0  # not a span "left as received" after an exception
    return out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12),
        ("12", 12),
        (" 12 ", 12),
        (12.0, 12),
        ("12.0", 12),
        (-5, 0),
        ("-5", 0),
        (math.nan, 0),
        (math.inf, 0),
        ("NaN", 0),
        ("twelve", 0),
        ("²", 0),  # a digit to str.isdigit(), not a number to int()
        ("١٢", 12),  # Arabic-Indic digits: decimal, and int() reads them
        (True, 0),
        ([12], 0),
        (None, 0),
        (2**31 - 1, 2**31 - 1),
        # Past any call, and summed in a rollup they overflowed 64 bits: the batch failed.
        (2**31, 0),
        (2**63 - 1, 0),
        (1e19, 0),
        ("9" * 5000, 0),  # more digits than int() reads
    ],
)
def test_wrong_typed_token_counts_are_coerced_or_ignored(raw: Any, expected: int) -> None:
    record = normalized({a.GEN_AI_REQUEST_MODEL: "gpt-4o", "gen_ai.usage.prompt_tokens": raw})
    assert record.input_tokens == expected
    stored = record.attributes.get(a.GEN_AI_USAGE_INPUT_TOKENS)
    assert stored is None or (isinstance(stored, int) and stored == expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.5, 0.5),
        ("0.5", 0.5),
        (1, 1.0),
        (-0.5, None),
        (math.nan, None),
        ("free", None),
        (1e12, 1e12),
        (1e308, None),
        ("1e400", None),
    ],
)
def test_wrong_typed_client_costs_are_coerced_or_ignored(raw: Any, expected: float | None) -> None:
    record = normalized({a.GEN_AI_REQUEST_MODEL: "gpt-4o", "llm.cost.total": raw})
    assert record.cost_usd == expected
    if expected is None:
        assert a.COST_USD not in record.attributes


def test_tenant_in_the_payload_is_never_the_tenant() -> None:
    record = span(
        {
            a.TENANT_ID: "other-tenant",
            "traceloop.association.properties.tenant_id": "other-tenant",
            "tenant": "other-tenant",
        }
    )
    NormalizeProcessor().process([record])
    assert record.tenant == "acme"
    assert record.attributes[a.TENANT_ID] == "other-tenant"


def test_root_span_without_a_kind_is_the_workflow() -> None:
    record = normalized({"http.route": "/ask"}, root=True)
    assert record.kind == "workflow"
    assert record.attributes[a.SPAN_KIND] == "workflow"


def test_child_span_without_a_kind_is_other() -> None:
    assert normalized({"http.route": "/ask"}).kind == "other"


def test_root_llm_call_stays_an_llm_span() -> None:
    assert normalized({a.GEN_AI_REQUEST_MODEL: "gpt-4o"}, root=True).kind == "llm"


def test_explicit_glassline_kind_wins_over_source_hints() -> None:
    record = normalized({a.SPAN_KIND: "retry_attempt", "openinference.span.kind": "LLM"})
    assert record.kind == "retry_attempt"


def test_unknown_attributes_are_kept_as_they_are() -> None:
    attrs = {"http.method": "POST", "my.app.flag": True, "my.list": [1, 2]}
    record = normalized(attrs)
    for name, value in attrs.items():
        assert record.attributes[name] == value


def test_normalizing_twice_changes_nothing() -> None:
    record = normalized(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-haiku",
            "llm.token_count.prompt": 50,
            "llm.token_count.prompt_details.cache_read": 900,
            "llm.input_messages.0.message.content": "hi",
        }
    )
    first = dict(record.attributes)
    NormalizeProcessor().process([record])
    assert record.attributes == first
    assert record.input_tokens == 950


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
)
_names = st.sampled_from(
    [
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.token_count.total",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.cost.total",
        "gen_ai.system",
        "openinference.span.kind",
        "traceloop.span.kind",
        "llm.request.type",
        "langfuse.observation.type",
        "langfuse.observation.usage_details",
        "langfuse.observation.cost_details",
        "langfuse.observation.completion_start_time",
        "llm.input_messages.0.message.role",
        "llm.input_messages.x.message.role",
        "gen_ai.prompt.1.content",
        "llm.invocation_parameters",
        a.CACHE_HIT,
        a.RETRY_COUNT,
        a.SPAN_KIND,
        a.TIME_TO_FIRST_CHUNK_MS,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_names, _values, max_size=12), st.booleans())
def test_any_attribute_values_never_raise_and_leave_sane_typed_fields(
    attrs: dict[str, Any], root: bool
) -> None:
    processor = NormalizeProcessor()
    [record] = processor.process([span(attrs, root=root)])
    assert processor.failures == 0
    assert record.tenant == "acme"
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        value = getattr(record, field)
        assert isinstance(value, int) and value >= 0
    assert record.input_tokens >= record.cache_read_tokens + record.cache_creation_tokens or (
        record.input_tokens == 0
    )
    assert record.cost_usd is None or (math.isfinite(record.cost_usd) and record.cost_usd >= 0)
    assert record.kind in {"workflow", "stage", "llm", "tool", "retry_attempt", "other"}
