"""Cost in USD of one model call, from token counts.

Prices come from genai-prices' bundled table (offline: this module never downloads), or from
per-model :class:`ModelPrice` overrides. Token arithmetic follows the GenAI conventions:
``input_tokens`` INCLUDES ``cache_read_tokens`` and ``cache_creation_tokens``, so the
non-cached input is ``input - cache_read - cache_creation`` and every bucket is priced once,
at its own rate. The collector's cost enrichment imports :func:`cost_usd`; keep its signature.
:func:`format_usd` is how every amount of dollars reads, in the SDK, the collector and the
dashboard alike.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import genai_prices
import genai_prices.types

from glassline.pricing._money import format_usd

__all__ = [
    "ModelPrice",
    "Price",
    "clean_counts",
    "cost_usd",
    "format_usd",
    "price_of",
    "table_price",
]

_log = logging.getLogger(__name__)
_PER_MILLION = 1_000_000.0

# OpenTelemetry gen_ai.provider.name values whose genai-prices provider id differs.
_PROVIDER_IDS: Mapping[str, str] = {
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gcp.gemini": "google",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
}


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens for one model; cache rates default to the input rate."""

    input: float
    output: float
    cache_read: float | None = None
    cache_creation: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_creation"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"ModelPrice.{name}: must be a finite number >= 0, got {value!r}")

    def cost(self, uncached: int, output: int, cache_read: int, cache_creation: int) -> float:
        """Cost in USD of the given token buckets (``uncached`` excludes cache tokens)."""
        read_rate = self.input if self.cache_read is None else self.cache_read
        write_rate = self.input if self.cache_creation is None else self.cache_creation
        total = (
            uncached * self.input
            + output * self.output
            + cache_read * read_rate
            + cache_creation * write_rate
        )
        return total / _PER_MILLION


class Price(Protocol):
    """The price of one model: cost in USD of token buckets, or None when it cannot tell."""

    def cost(self, uncached: int, output: int, read: int, creation: int, /) -> float | None:
        """Cost of the buckets; ``uncached`` excludes the cache tokens."""
        ...


def cost_usd(
    model: str,
    *,
    provider: str | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    overrides: Mapping[str, ModelPrice] | None = None,
) -> float | None:
    """Return the cost in USD of one call, or None when the model has no known price.

    ``input_tokens`` includes the cache tokens (GenAI conventions). An override is looked up
    as ``"{provider}/{model}"`` first, then ``model``. Never raises on an unknown model or on
    inconsistent counts: it returns None and logs at debug level.
    """
    counts = clean_counts(input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
    if counts is None or not model:
        _log.debug("no cost: bad token counts or an empty model name")
        return None
    total_in, output, read, creation = counts
    price = price_of(model, provider, overrides)
    if price is None:
        # The model name is caller data (it may hold anything): never logged.
        _log.debug("no cost: no price known for the call's model")
        return None
    return price.cost(total_in - read - creation, output, read, creation)


def price_of(
    model: str, provider: str | None = None, overrides: Mapping[str, ModelPrice] | None = None
) -> Price | None:
    """The price of ``model``: an override if one matches (see :func:`cost_usd`), else the table's.

    Table lookups are cached per (model, provider), so a caller pricing every call pays one
    dict lookup and the arithmetic. None when the model has no known price.
    """
    if overrides:
        override = _find_override(model, provider, overrides)
        if override is not None:
            return override
    return table_price(model, provider)


def clean_counts(
    total_in: int, output: int, read: int, creation: int
) -> tuple[int, int, int, int] | None:
    """(input, output, cache read, cache creation) validated; None if one is not a count.

    If the cache tokens exceed the input, input is taken as their sum.
    """
    # Spelled out rather than looped: this runs on every LLM span. Exact type: bool (an int
    # subclass) is not a count.
    if type(total_in) is not int or type(output) is not int:
        return None
    if type(read) is not int or type(creation) is not int:
        return None
    if total_in < 0 or output < 0 or read < 0 or creation < 0:
        return None
    # A source that reported input without the cached part: never price tokens negatively.
    if read + creation > total_in:
        total_in = read + creation
    return total_in, output, read, creation


def _find_override(
    model: str, provider: str | None, overrides: Mapping[str, ModelPrice] | None
) -> ModelPrice | None:
    if not overrides:
        return None
    if provider:
        found = overrides.get(f"{provider}/{model}")
        if found is not None:
            return found
    return overrides.get(model)


@functools.lru_cache(maxsize=1024)
def table_price(model: str, provider: str | None) -> Price | None:
    """The bundled table's price of ``model`` (no overrides), cached per (model, provider)."""
    provider_id = _PROVIDER_IDS.get(provider, provider) if provider else None
    rates = _rates(model, provider_id)
    if rates is None or isinstance(rates, _Linear):
        return rates
    return _Full(model, rates)


@dataclass(frozen=True, slots=True)
class _Linear:
    """Flat per-token rates of one table entry, so the hot path skips genai-prices' machinery."""

    fixed: float
    input: float
    output: float
    cache_read: float
    cache_creation: float

    def cost(self, uncached: int, output: int, read: int, creation: int) -> float:
        return (
            self.fixed
            + uncached * self.input
            + output * self.output
            + read * self.cache_read
            + creation * self.cache_creation
        )


def _rates(model: str, provider_id: str | None) -> _Linear | str | None:
    """Flat rates when the model's price is flat; else the provider id to price with in full.

    Tiered (by context size) and conditional (time of day) prices are not linear, so those
    are priced by genai-prices on every call.
    """
    # A provider id unknown to the table (a gateway, a self-hosted proxy) still prices by model.
    for candidate in (provider_id, None) if provider_id else (None,):
        try:
            probe = genai_prices.calc_price(genai_prices.Usage(), model, provider_id=candidate)
        except LookupError:
            continue
        except Exception:  # the pricing table must never break the caller
            _log.debug("pricing failed for a model name", exc_info=True)
            return None
        resolved = candidate or probe.provider.id
        if not _is_flat(probe):
            return resolved
        return _probe_linear(model, resolved, float(probe.total_price))
    return None


def _is_flat(probe: Any) -> bool:
    if not isinstance(probe.model.prices, genai_prices.types.ModelPrice):
        return False  # conditional prices (by time or context) vary per call
    values = vars(probe.model_price).values()
    return all(v is None or isinstance(v, Decimal | int | float) for v in values)


def _probe_linear(model: str, provider_id: str, fixed: float) -> _Linear:
    def per_token(**usage: int) -> float:
        price = genai_prices.calc_price(
            genai_prices.Usage(**usage), model, provider_id=provider_id
        ).total_price
        return (float(price) - fixed) / _PER_MILLION

    m = int(_PER_MILLION)
    return _Linear(
        fixed=fixed,
        input=per_token(input_tokens=m),
        output=per_token(output_tokens=m),
        cache_read=per_token(input_tokens=m, cache_read_tokens=m),
        cache_creation=per_token(input_tokens=m, cache_write_tokens=m),
    )


@dataclass(frozen=True, slots=True)
class _Full:
    """A tiered or conditional table price: genai-prices prices each call in full."""

    model: str
    provider_id: str

    def cost(self, uncached: int, output: int, read: int, creation: int) -> float | None:
        return _calc(
            self.model, self.provider_id, uncached + read + creation, output, read, creation
        )


def _calc(
    model: str, provider_id: str, total_in: int, output: int, read: int, creation: int
) -> float | None:
    usage = genai_prices.Usage(
        input_tokens=total_in,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=creation,
    )
    try:
        price = genai_prices.calc_price(usage, model, provider_id=provider_id).total_price
    except Exception:  # the pricing table must never break the caller
        _log.debug("pricing failed for a model name", exc_info=True)
        return None
    return float(price)
