"""The cost attributes of an LLM span, from its token counts and model."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from glassline.instrumentation import _settings
from glassline.pricing import clean_counts, price_of, table_price
from glassline.semconv import attributes as attrs

__all__ = ["Counted", "put_cost"]

_log = logging.getLogger(__name__)


class Counted(Protocol):
    """What a response said about its tokens (``ResponseInfo``); None for an unknown count."""

    model: str | None
    input_tokens: int | None  # includes the cache tokens (GenAI conventions)
    output_tokens: int | None
    cache_read: int | None
    cache_creation: int | None


def put_cost(
    out: dict[str, Any],
    counted: Counted,
    *,
    provider: str | None,
    request_model: str | None,
    settings: _settings.Settings,
) -> None:
    """Add the cost of the tokens (if some are known and the model is priced) to ``out``."""
    if counted.input_tokens is None and counted.output_tokens is None:
        return
    counts = clean_counts(
        counted.input_tokens or 0,
        counted.output_tokens or 0,
        counted.cache_read or 0,
        counted.cache_creation or 0,
    )
    if counts is None:
        return
    total_in, output, read, creation = counts
    uncached = total_in - read - creation
    prices = settings.prices
    # The response names the exact model (a dated snapshot); the request's alias is the fallback.
    for model in (counted.model, request_model):
        if not model:
            continue
        # Without overrides, straight to the table's cache (a C call where price_of is a frame).
        price = price_of(model, provider, prices) if prices else table_price(model, provider)
        cost = price.cost(uncached, output, read, creation) if price is not None else None
        if cost is not None:
            out[attrs.COST_USD] = cost
            out[attrs.COST_SOURCE] = "sdk"
            return
        if model == request_model:
            break
    _log.debug("no cost: no price known for the call's model")  # names are caller data: not logged
