"""The cost attributes of an LLM span, from its token counts and model."""

from __future__ import annotations

import logging
from typing import Any

from glassline.instrumentation import _settings
from glassline.pricing import price_of, table_price
from glassline.semconv import attributes as attrs

__all__ = ["put_cost"]

_log = logging.getLogger(__name__)


def put_cost(
    out: dict[str, Any],
    *,
    provider: str | None,
    request_model: str | None,
    settings: _settings.Settings,
) -> None:
    """Add the cost of the tokens counted in ``out`` (if the model is priced) to ``out``.

    ``out`` holds a response's attributes (``gen_ai.usage.*``, ``gen_ai.response.model``). The
    response's model (a dated snapshot) is priced first, the request's alias second.
    """
    input_tokens = out.get(attrs.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = out.get(attrs.GEN_AI_USAGE_OUTPUT_TOKENS)
    if input_tokens is None and output_tokens is None:
        return
    # The readers put exact ints only (put_usage): left to check are the signs, and what
    # clean_counts does with cache tokens above the input (the input is their sum, so the
    # uncached input is 0).
    input_tokens = input_tokens or 0
    output = output_tokens or 0
    read = out.get(attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0)
    creation = out.get(attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 0)
    if input_tokens < 0 or output < 0 or read < 0 or creation < 0:
        return
    uncached = input_tokens - read - creation
    if uncached < 0:
        uncached = 0
    prices = settings.prices
    for model in (out.get(attrs.GEN_AI_RESPONSE_MODEL), request_model):
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
