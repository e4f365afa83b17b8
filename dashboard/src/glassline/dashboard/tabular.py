"""The tables every page draws: typed columns, missing values shown as a dash, dollars as
``format_usd`` reads them, at most ``MAX_TABLE_ROWS`` rows with a CSV of them all."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard import spreadsheet
from glassline.pricing import format_usd

__all__ = [
    "MAX_TABLE_ROWS",
    "MISSING",
    "count_column",
    "measure_column",
    "table",
    "usd_column",
    "utc_column",
]


# A number column of dollars: table() draws each amount as format_usd reads it (Streamlit's
# printf formats cannot: "$%.6f" read $1234.500000 and $0.538600). Not a Streamlit format.
_USD = "usd"


# Table column formats per kind of measure (Streamlit's printf-style number formats, or _USD).
_MEASURE_FORMATS = {"spend": _USD, "p95": "%.1f ms", "error_rate": "percent",
                    "cache_hit_rate": "percent", "tokens_per_request": "%.1f",
                    "requests": "%.0f"}  # fmt: skip


def measure_column(label: str, metric: str) -> Any:
    """A number column formatted for ``metric`` (see ``queries.CHANGE_METRICS``)."""
    return st.column_config.NumberColumn(label, format=_MEASURE_FORMATS.get(metric, "%.2f"))


# Whole numbers with thousands separators, as the tiles read them (173622 beside a tile's
# 173,622). Streamlit's printf takes "," as that flag; Python's % does not (see _printf).
_COUNT = "%,d"


def count_column(label: str) -> Any:
    """A whole-number column (spans, requests, tokens, turns)."""
    return st.column_config.NumberColumn(label, format=_COUNT)


def _printf(fmt: str) -> Any:
    """A Streamlit printf format as a Python function of the value (for a column with gaps)."""
    return (lambda v: f"{int(v):,d}") if fmt == _COUNT else fmt.__mod__


def usd_column(label: str) -> Any:
    """A spend column for :func:`table`: each amount reads as ``format_usd`` says ($0.0000447,
    $1,234.50), and the column sorts by the number."""
    return st.column_config.NumberColumn(label, format=_USD)


_UTC_MOMENT, _UTC_STRFTIME = "YYYY-MM-DD HH:mm:ss", "%Y-%m-%d %H:%M:%S"  # one format, two syntaxes


def utc_column(label: str) -> Any:
    """A moment to the second; ``label`` says UTC."""
    return st.column_config.DatetimeColumn(label, format=_UTC_MOMENT)


# The rows a table draws: What changed by user, in an app of 100,000 users a day, failed
# outright (a Styler takes at most 262,144 cells), and a grid of that many rows helps no one.
MAX_TABLE_ROWS = 1_000


def table(
    frame: pd.DataFrame,
    columns: dict[str, Any],
    *,
    key: str,
    csv_name: str,
    where: DeltaGenerator | None = None,
    csv_frame: pd.DataFrame | None = None,
) -> Any:
    """A selectable table (a click on a row is returned) of ``frame``'s first
    ``MAX_TABLE_ROWS`` rows, with a CSV download of all its rows (``csv_frame``'s, when the
    table shows numbers as text: the CSV keeps them raw)."""
    where = where or st.container()
    shown, config = _with_missing_shown(frame.head(MAX_TABLE_ROWS), columns)
    styled, config = _dollars_shown(shown, config)
    picked = where.dataframe(
        styled,
        hide_index=True,
        column_config=config,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )
    if len(frame) > MAX_TABLE_ROWS:
        where.caption(f"The first {MAX_TABLE_ROWS:,} of {len(frame):,} rows; the CSV has them all.")
    raw = frame if csv_frame is None else csv_frame
    csv = spreadsheet.to_csv(raw.rename(columns={k: _label(k, v) for k, v in columns.items()}))
    where.download_button("Download CSV", csv, csv_name, "text/csv", key=f"{key}_csv")
    return picked


MISSING = "\u2013"  # an en dash


def _dollars_shown(frame: pd.DataFrame, columns: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The frame with its ``usd_column`` columns reading as ``format_usd`` says. Streamlit shows
    a Styler's text in a number column that has no format of its own, and sorts by the number."""
    usd = [name for name in frame.columns if _number_format(columns.get(name)) == _USD]
    if not usd:
        return frame, columns
    config = dict(columns)
    for name in usd:
        spec = columns[name]
        config[name] = {**spec, "type_config": {**spec["type_config"], "format": None}}
    return frame.style.format(format_usd, subset=usd), config


def _number_format(spec: Any) -> str | None:
    """A number column's format (``%g`` when it names none); None for any other column."""
    typed = (spec.get("type_config") or {}) if isinstance(spec, dict) else {}
    return (typed.get("format") or "%g") if typed.get("type") == "number" else None


def _with_missing_shown(
    frame: pd.DataFrame, columns: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame as a table shows it: a missing value reads MISSING, not Streamlit's "None"
    (a stage new in this period has no previous p95). A number column with a gap becomes text
    in its own printf format; the CSV keeps the raw values."""
    shown, config = frame.copy(), dict(columns)
    for name in frame.columns:
        missing = frame[name].isna()
        if not missing.any():
            continue
        spec: Any = columns.get(name)  # a column_config dict where fmt is set
        fmt = _number_format(spec)
        if fmt is not None:
            if "%" not in fmt and fmt != _USD:  # a named format ("percent") renders itself
                continue
            text = format_usd if fmt == _USD else _printf(fmt)
            shown[name] = [
                MISSING if gap else text(v) for v, gap in zip(frame[name], missing, strict=True)
            ]
            config[name] = st.column_config.TextColumn(
                _label(name, spec), help=spec.get("help"), alignment="right"
            )
        elif pd.api.types.is_datetime64_any_dtype(frame[name]):  # e.g. an unresolved alert
            shown[name] = [
                MISSING if gap else v.strftime(_UTC_STRFTIME)
                for v, gap in zip(frame[name], missing, strict=True)
            ]
            config[name] = st.column_config.TextColumn(_label(name, spec))
        elif frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name]):
            # pandas 3 reads a column of text as ``str``, not object: a request name missing
            # among others read "None".
            shown[name] = frame[name].where(~missing, MISSING)
    return shown, config


def _label(name: str, config: Any) -> str:
    if isinstance(config, str):
        return config
    found = config.get("label") if isinstance(config, dict) else None
    return str(found or name)
