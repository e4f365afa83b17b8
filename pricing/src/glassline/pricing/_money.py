"""How a person reads an amount of US dollars, the one rule for every page, alert and message.

LLM costs span nine orders of magnitude: a cached call costs $0.0000345, a month $1,234.50. So
an amount from $1 reads in cents with thousands separators, and one under $1 keeps three
significant digits (never "$0.00" for a call that cost something), as cost views of LLM tools
print per-call costs. Machine-readable outputs (webhook JSON, CSV, the API) keep raw numbers.
"""

from __future__ import annotations

import math

__all__ = ["format_usd"]


def format_usd(value: float | None) -> str:
    """``value`` dollars as text: ``$1,234.50``, ``$1.00``, ``$0.539``, ``$0.05``,
    ``$0.000123``, ``-$0.50``; ``n/a`` for None or a value that is not a finite number.

    From $1: cents, thousands separated. Under $1: three significant digits, at least to the
    cent, trailing zeros past the cents dropped (``$0.10``, not ``$0.100``).
    """
    if value is None or not math.isfinite(value):
        return "n/a"
    amount, sign = abs(value), "-" if value < 0 else ""
    text = f"{amount:,.2f}"
    if 0 < amount < 1:
        small = f"{amount:.{max(2, 2 - math.floor(math.log10(amount)))}f}"
        if small.startswith("0"):  # else it rounded to a whole dollar: 0.9996 reads $1.00
            text = small[:4] + small[4:].rstrip("0")
    return f"{sign}${text}"
