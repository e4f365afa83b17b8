"""JSON-safe values: what both stores keep as is, in their JSON columns and in text columns.

PostgreSQL refuses NaN and ±Infinity in JSONB, and a NUL character or a lone surrogate in any
text; one refused value fails the whole INSERT, so one bad span would cost its batch on every
retry. SQLite takes NaN but writes non-standard JSON tokens that other readers choke on. So
ingest replaces them, the same for both stores: a non-finite float becomes the string
``"NaN"``, ``"Infinity"`` or ``"-Infinity"``; a NUL or a lone surrogate becomes U+FFFD.

Every function returns its argument itself when it is already safe, so callers can test with
``is`` and copy nothing on the common path.
"""

from __future__ import annotations

import math

__all__ = ["REPLACEMENT", "safe_float", "safe_str"]

REPLACEMENT = "\ufffd"


def safe_str(value: str) -> str:
    """``value`` with each NUL and lone surrogate replaced by U+FFFD."""
    if value.isascii():  # O(1) in CPython; an ASCII string can hold no surrogate
        return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A pair split into two code points is joined back; a lone half becomes U+FFFD.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value.replace("\x00", REPLACEMENT) if "\x00" in value else value


def safe_float(value: float) -> float | str:
    """``value``, or its name as a string when it is NaN or infinite."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
