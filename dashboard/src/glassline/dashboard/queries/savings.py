"""What prompt caching saved: cached tokens priced at the full input rate minus what was paid.

Prices come from genai-prices' bundled table (offline). A model the table does not know gets
no savings figure rather than a guessed one.
"""

from __future__ import annotations

import pandas as pd
from genai_prices import Usage, calc_price
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage.models import Rollup
from glassline.dashboard.window import Window

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


def cache_savings(conn: Connection, window: Window) -> pd.DataFrame:
    """Per model: cached input tokens and the USD they saved (``None`` if the model is unpriced)."""
    conds = [Rollup.minute >= window.start, Rollup.minute < window.end, Rollup.model != ""]
    if window.tenant:
        conds.append(Rollup.tenant == window.tenant)
    query = (
        select(
            Rollup.model,
            func.sum(Rollup.input_tokens).label("input_tokens"),
            func.sum(Rollup.cache_read_tokens).label("cache_read_tokens"),
            func.sum(Rollup.cost_usd).label("cost_usd"),
        )
        .where(*conds)
        .group_by(Rollup.model)
    )
    frame = pd.DataFrame(
        conn.execute(query).mappings().all(),
        columns=["model", "input_tokens", "cache_read_tokens", "cost_usd"],
    )
    frame["saved_usd"] = [
        cached_token_savings_usd(m, int(t))
        for m, t in zip(frame["model"], frame["cache_read_tokens"], strict=True)
    ]
    return frame.sort_values("cache_read_tokens", ascending=False, ignore_index=True)
