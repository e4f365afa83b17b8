"""Pure SQLAlchemy queries behind the dashboard pages; no Streamlit here, so they test alone."""

from __future__ import annotations

from glassline.dashboard.queries.ops import (
    OpsTables,
    alert_history,
    alert_states,
    find_tables,
    sampling_summary,
)
from glassline.dashboard.queries.rollups import (
    REQUEST_KIND,
    Totals,
    breakdown,
    percentiles,
    spend_between,
    sum_series,
    tenants,
    totals,
    user_spend,
)
from glassline.dashboard.queries.savings import cache_savings, cached_token_savings_usd
from glassline.dashboard.queries.traces import (
    SORTS,
    TraceDetail,
    TraceFilter,
    TracePage,
    get_trace,
    list_traces,
)

__all__ = [
    "REQUEST_KIND",
    "SORTS",
    "OpsTables",
    "Totals",
    "TraceDetail",
    "TraceFilter",
    "TracePage",
    "alert_history",
    "alert_states",
    "breakdown",
    "cache_savings",
    "cached_token_savings_usd",
    "find_tables",
    "get_trace",
    "list_traces",
    "percentiles",
    "sampling_summary",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "user_spend",
]
