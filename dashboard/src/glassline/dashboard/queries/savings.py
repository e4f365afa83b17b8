"""What prompt caching saved: cached tokens priced at the full input rate minus what was paid.

Prices come from genai-prices' bundled table (offline). A model the table does not know gets
no savings figure rather than a guessed one.
"""

from __future__ import annotations

import pandas as pd
from genai_prices import Usage, calc_price

__all__ = ["cache_savings", "cached_token_savings_usd"]


def cached_token_savings_usd(model: str, cache_read_tokens: int) -> float | None:
    """USD saved on ``cache_read_tokens`` of ``model`` versus paying the full input rate."""
    if cache_read_tokens <= 0:
        return 0.0
    try:
        full = calc_price(Usage(input_tokens=cache_read_tokens), model_ref=model)
        paid = calc_price(
            Usage(input_tokens=cache_read_tokens, cache_read_tokens=cache_read_tokens),
            model_ref=model,
        )
    except LookupError:
        return None
    return float(full.input_price - paid.input_price)


def cache_savings(by_model: pd.DataFrame) -> pd.DataFrame:
    """Per model: cached input tokens and the USD they saved (``None`` if the model is unpriced).

    ``by_model`` is a per-model breakdown (``group(cube, "model")``); this adds prices only.
    """
    frame = by_model.loc[
        by_model["model"] != "", ["model", "input_tokens", "cache_read_tokens", "cost_usd"]
    ].copy()
    frame["saved_usd"] = [
        cached_token_savings_usd(m, int(t))
        for m, t in zip(frame["model"], frame["cache_read_tokens"], strict=True)
    ]
    return frame.sort_values("cache_read_tokens", ascending=False, ignore_index=True)
