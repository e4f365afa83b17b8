"""The cost attributes of an LLM span, from its token counts and model."""

from __future__ import annotations

import logging
from typing import Any

from glassline.instrumentation import _settings
from glassline.pricing import clean_counts, price_of
from glassline.semconv import attributes as attrs

__all__ = ["put_cost"]

_log = logging.getLogger(__name__)


def put_cost(
    out: dict[str, Any],
    *,
    provider: str | None,
    response_model: str | None,
    request_model: str | None,
    settings: _settings.Settings,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_creation: int | None,
) -> None:
    """Add the cost of the tokens (if some are known and the model is priced) to ``out``."""
    if input_tokens is None and output_tokens is None:
        return
    counts = clean_counts(
        input_tokens or 0, output_tokens or 0, cache_read or 0, cache_creation or 0
    )
    if counts is None:
        return
    total_in, output, read, creation = counts
    uncached = total_in - read - creation
    # The response names the exact model (a dated snapshot); the request's alias is the fallback.
    for model in (response_model, request_model):
        if not model:
            continue
        price = price_of(model, provider, settings.prices)  # cached per (model, provider)
        cost = price.cost(uncached, output, read, creation) if price is not None else None
        if cost is not None:
            out[attrs.COST_USD] = cost
            out[attrs.COST_SOURCE] = "sdk"
            return
        if model == request_model:
            break
    _log.debug("no cost: no price known for the call's model")  # names are caller data: not logged
