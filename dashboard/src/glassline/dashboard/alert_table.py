"""How alert rows read on every page: each rule's value in its unit, times in UTC.

The Overview's firing alerts and the Alerts page show the same rows; the Overview once read
a latency of 854.208 and a budget's 0.5386 where the Alerts page read 854 ms and $0.539.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from glassline.collector.alerts.units import format_value
from glassline.dashboard import budgets, tabular

__all__ = ["COLUMNS", "in_units"]


def _at(label: str) -> object:
    return tabular.utc_column(f"{label} (UTC)")


COLUMNS = {
    "rule": "Rule",
    "tenant": "Tenant",
    "key": "Key",
    "state": "State",
    "from_state": "From",
    "to_state": "To",
    "severity": "Severity",
    "value": st.column_config.TextColumn("Value", alignment="right"),
    "threshold": st.column_config.TextColumn("Threshold", alignment="right"),
    "at": _at("At"),
    "active_since": _at("Active since"),
    "fired_at": _at("Fired at"),
    "resolved_at": _at("Resolved at"),
    "updated_at": _at("Updated at"),
}


def in_units(frame: pd.DataFrame) -> pd.DataFrame:
    """Value and threshold in each rule's unit ($0.539 of a budget, not 0.5386); a rule the
    rule file does not name (or no rule file) reads a plain number."""
    units = budgets.rule_units()
    shown = frame.copy()
    for col in ("value", "threshold"):
        shown[col] = [
            tabular.MISSING if pd.isna(v) else format_value(units.get(rule, ""), float(v))
            for rule, v in zip(frame["rule"], frame[col], strict=True)
        ]
    return shown
