"""Cost arithmetic: each token bucket at its own rate, cached tokens never counted twice."""

from __future__ import annotations

import logging

import genai_prices
import pytest

from glassline.pricing import ModelPrice, cost_usd


def _table_rates(model: str, provider: str) -> tuple[float, float, float, float]:
    """Per-token rates from the bundled table, read through genai-prices itself."""

    def price(**usage: int) -> float:
        return float(
            genai_prices.calc_price(
                genai_prices.Usage(**usage), model, provider_id=provider
            ).total_price
        )

    return (
        price(input_tokens=1_000_000) / 1e6,
        price(output_tokens=1_000_000) / 1e6,
        price(input_tokens=1_000_000, cache_read_tokens=1_000_000) / 1e6,
        price(input_tokens=1_000_000, cache_write_tokens=1_000_000) / 1e6,
    )


@pytest.mark.parametrize(
    ("model", "provider"),
    [("gpt-4o-mini", "openai"), ("claude-3-5-sonnet-latest", "anthropic")],
)
def test_each_bucket_is_priced_once_at_its_own_rate(model: str, provider: str) -> None:
    rin, rout, rread, rwrite = _table_rates(model, provider)
    cost = cost_usd(
        model,
        provider=provider,
        input_tokens=10_000,  # includes 4_000 cache read + 1_000 cache creation
        output_tokens=500,
        cache_read_tokens=4_000,
        cache_creation_tokens=1_000 if provider == "anthropic" else 0,
    )
    creation = 1_000 if provider == "anthropic" else 0
    expected = (10_000 - 4_000 - creation) * rin + 500 * rout + 4_000 * rread + creation * rwrite
    assert cost == pytest.approx(expected, rel=1e-9)
    assert rread < rin  # the discount is real, so counting cached tokens twice would show


def test_cached_tokens_cost_less_than_the_same_tokens_uncached() -> None:
    cached = cost_usd("gpt-4o-mini", input_tokens=1000, cache_read_tokens=800)
    uncached = cost_usd("gpt-4o-mini", input_tokens=1000)
    assert cached is not None and uncached is not None
    assert cached < uncached


def test_unknown_model_returns_none_and_logs_at_debug_without_the_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="glassline.pricing"):
        assert cost_usd("jane@example.com", provider="openai", input_tokens=10) is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("no price" in m for m in messages)
    assert not any("jane@example.com" in m for m in messages)  # caller data is never logged


def test_unknown_provider_falls_back_to_model_lookup() -> None:
    via_gateway = cost_usd("gpt-4o-mini", provider="my-gateway", input_tokens=1000)
    direct = cost_usd("gpt-4o-mini", provider="openai", input_tokens=1000)
    assert via_gateway == direct and direct is not None


def test_override_wins_over_the_table_and_prices_each_bucket() -> None:
    price = ModelPrice(input=2.0, output=8.0, cache_read=0.5, cache_creation=2.5)
    cost = cost_usd(
        "gpt-4o-mini",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_tokens=200_000,
        cache_creation_tokens=100_000,
        overrides={"gpt-4o-mini": price},
    )
    assert cost == pytest.approx(0.7 * 2.0 + 8.0 + 0.2 * 0.5 + 0.1 * 2.5)


def test_provider_qualified_override_is_preferred() -> None:
    overrides = {
        "m": ModelPrice(input=1.0, output=1.0),
        "acme/m": ModelPrice(input=3.0, output=3.0),
    }
    assert cost_usd("m", provider="acme", input_tokens=1_000_000, overrides=overrides) == 3.0
    assert cost_usd("m", provider="other", input_tokens=1_000_000, overrides=overrides) == 1.0


def test_override_cache_rates_default_to_the_input_rate() -> None:
    price = ModelPrice(input=4.0, output=0.0)
    assert (
        cost_usd("m", input_tokens=1_000_000, cache_read_tokens=500_000, overrides={"m": price})
        == 4.0
    )


def test_cache_tokens_above_input_are_never_priced_negative() -> None:
    price = ModelPrice(input=1.0, output=0.0, cache_read=0.1)
    cost = cost_usd("m", input_tokens=10, cache_read_tokens=1_000_000, overrides={"m": price})
    assert cost == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_counts_return_none(bad: object) -> None:
    assert cost_usd("gpt-4o-mini", input_tokens=bad) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["input", "output", "cache_read", "cache_creation"])
def test_model_price_rejects_negative_rates_naming_the_field(field: str) -> None:
    values = {"input": 1.0, "output": 1.0, field: -1.0}
    with pytest.raises(ValueError, match=f"ModelPrice.{field}"):
        ModelPrice(**values)


@pytest.mark.parametrize(
    ("model", "provider"), [("gemini-2.5-pro", "google"), ("claude-sonnet-4-5", "anthropic")]
)
@pytest.mark.parametrize("input_tokens", [1_000, 300_000])
def test_tiered_prices_match_the_table_on_both_sides_of_a_tier(
    model: str, provider: str, input_tokens: int
) -> None:
    usage = genai_prices.Usage(
        input_tokens=input_tokens, output_tokens=2_000, cache_read_tokens=500
    )
    expected = float(genai_prices.calc_price(usage, model, provider_id=provider).total_price)
    got = cost_usd(
        model,
        provider=provider,
        input_tokens=input_tokens,
        output_tokens=2_000,
        cache_read_tokens=500,
    )
    assert got == pytest.approx(expected, rel=1e-9)


def test_tier_boundary_changes_the_per_token_price() -> None:
    # Guards the test above: if these models were flat, it would not test the tiered path.
    small = cost_usd("gemini-2.5-pro", provider="google", input_tokens=100_000)
    large = cost_usd("gemini-2.5-pro", provider="google", input_tokens=300_000)
    assert small is not None and large is not None
    assert large / 300_000 > small / 100_000
