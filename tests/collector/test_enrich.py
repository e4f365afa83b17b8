"""Cost enrichment at ingest: priced from the table or overrides, client costs kept."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from glassline.collector.processors.enrich import EnrichProcessor, PricingConfig
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanRecord
from glassline.pricing import cost_usd
from glassline.semconv import attributes as a


def llm_span(**fields: Any) -> SpanRecord:
    record = SpanRecord(
        tenant="acme",
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id="3" * 16,
        name="chat",
        start_ns=0,
        end_ns=1,
        kind="llm",
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def enriched(record: SpanRecord, config: PricingConfig | None = None) -> SpanRecord:
    [out] = EnrichProcessor(config).process([record])
    return out


def test_span_with_model_and_tokens_gets_the_table_price() -> None:
    record = enriched(
        llm_span(model="gpt-4o", provider="openai", input_tokens=1000, output_tokens=200)
    )
    expected = cost_usd("gpt-4o", provider="openai", input_tokens=1000, output_tokens=200)
    assert expected is not None and expected > 0
    assert record.cost_usd == pytest.approx(expected, rel=1e-9)
    assert record.attributes[a.COST_USD] == record.cost_usd
    assert record.attributes[a.COST_SOURCE] == "collector"


def test_cached_tokens_are_priced_once_at_their_own_rate() -> None:
    config = PricingConfig(
        models={"m-1": {"input": 2.0, "output": 8.0, "cache_read": 0.5, "cache_creation": 2.5}}
    )
    record = enriched(
        llm_span(
            model="m-1",
            input_tokens=1000,
            cache_read_tokens=600,
            cache_creation_tokens=100,
            output_tokens=50,
        ),
        config,
    )
    expected = (300 * 2.0 + 600 * 0.5 + 100 * 2.5 + 50 * 8.0) / 1_000_000
    assert record.cost_usd == pytest.approx(expected, rel=1e-9)


def test_table_cache_discount_lowers_the_cost_instead_of_adding_to_it() -> None:
    plain = enriched(llm_span(model="gpt-4o", input_tokens=10_000, output_tokens=10))
    cached = enriched(
        llm_span(model="gpt-4o", input_tokens=10_000, cache_read_tokens=9_000, output_tokens=10)
    )
    assert plain.cost_usd is not None and cached.cost_usd is not None
    assert cached.cost_usd < plain.cost_usd


def test_client_cost_is_kept() -> None:
    record = llm_span(model="gpt-4o", input_tokens=1000, output_tokens=10, cost_usd=1.5)
    record.attributes[a.COST_USD] = 1.5
    record.attributes[a.COST_SOURCE] = "client"
    enriched(record)
    assert record.cost_usd == 1.5
    assert record.attributes[a.COST_SOURCE] == "client"


def test_unknown_model_gets_no_cost_and_no_guess() -> None:
    processor = EnrichProcessor()
    [record] = processor.process([llm_span(model="my-private-llm-7b", input_tokens=100)])
    assert record.cost_usd is None
    assert a.COST_USD not in record.attributes
    assert processor.unpriced == 1


def test_spans_without_model_or_tokens_are_not_priced() -> None:
    no_model = enriched(llm_span(input_tokens=100))
    no_tokens = enriched(llm_span(model="gpt-4o"))
    assert no_model.cost_usd is None and no_tokens.cost_usd is None


def test_pricing_can_be_turned_off() -> None:
    record = enriched(llm_span(model="gpt-4o", input_tokens=1000), PricingConfig(enabled=False))
    assert record.cost_usd is None


def test_override_replaces_the_table_price_and_provider_key_wins() -> None:
    config = PricingConfig(
        models={
            "gpt-4o": {"input": 100.0, "output": 0.0},
            "azure.ai.openai/gpt-4o": {"input": 7.0, "output": 0.0},
        }
    )
    plain = enriched(llm_span(model="gpt-4o", input_tokens=1_000), config)
    azure = enriched(
        llm_span(model="gpt-4o", provider="azure.ai.openai", input_tokens=1_000), config
    )
    assert plain.cost_usd == pytest.approx(0.1)
    assert azure.cost_usd == pytest.approx(0.007)


def test_tiered_model_is_priced_per_span_at_the_right_tier() -> None:
    big = 200_000  # above gemini-1.5-pro's 128k-token tier boundary
    small_span = enriched(llm_span(model="gemini-1.5-pro", input_tokens=1_000))
    big_span = enriched(llm_span(model="gemini-1.5-pro", input_tokens=big))
    assert small_span.cost_usd == pytest.approx(
        cost_usd("gemini-1.5-pro", input_tokens=1_000), rel=1e-9
    )
    assert big_span.cost_usd == pytest.approx(
        cost_usd("gemini-1.5-pro", input_tokens=big), rel=1e-9
    )
    assert big_span.cost_usd is not None and small_span.cost_usd is not None
    assert big_span.cost_usd / big > small_span.cost_usd / 1_000


def test_price_cache_is_bounded() -> None:
    processor = EnrichProcessor(PricingConfig(cache_size=2))
    batch = [llm_span(model=m, input_tokens=10) for m in ("gpt-4o", "gpt-4o-mini", "o3-mini")]
    processor.process(batch)
    assert processor.cached_models == 2
    assert all(r.cost_usd is not None for r in batch)


def test_normalized_anthropic_span_from_another_library_is_priced_without_double_counting() -> None:
    record = SpanRecord(
        tenant="acme",
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id="3" * 16,
        name="Messages",
        start_ns=0,
        end_ns=1,
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-sonnet-4-20250514",
            "llm.provider": "anthropic",
            "llm.token_count.prompt": 100,  # Anthropic's input_tokens: cache excluded
            "llm.token_count.completion": 20,
            "llm.token_count.prompt_details.cache_read": 5_000,
        },
    )
    EnrichProcessor().process(NormalizeProcessor().process([record]))
    expected = cost_usd(
        "claude-sonnet-4-20250514",
        provider="anthropic",
        input_tokens=5_100,
        output_tokens=20,
        cache_read_tokens=5_000,
    )
    assert record.input_tokens == 5_100
    assert expected is not None
    assert record.cost_usd == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("models", "path"),
    [
        ({"gpt-4o": {"input": -1.0, "output": 1.0}}, ("models", "gpt-4o", "input")),
        ({"gpt-4o": {"input": 1.0, "output": math.inf}}, ("models", "gpt-4o", "output")),
        ({"gpt-4o": {"input": 1.0}}, ("models", "gpt-4o", "output")),
        ({"gpt-4o": {"input": 1.0, "output": 1.0, "cached": 1.0}}, ("models", "gpt-4o", "cached")),
        ({" ": {"input": 1.0, "output": 1.0}}, ("models",)),
    ],
)
def test_bad_pricing_config_is_reported_with_its_path(
    models: dict[str, Any], path: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as info:
        PricingConfig(models=models)
    assert [tuple(e["loc"]) for e in info.value.errors()] == [path]


def test_unknown_pricing_option_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        PricingConfig.model_validate({"enabled": True, "currency": "EUR"})
    assert info.value.errors()[0]["loc"] == ("currency",)
