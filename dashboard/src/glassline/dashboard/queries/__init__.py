"""Pure SQLAlchemy queries behind the dashboard pages; no Streamlit here, so they test alone."""

from __future__ import annotations

from glassline.dashboard.queries.ops import (
    OpsTables,
    find_tables,
    firing_alerts,
    read_table,
    sampling_summary,
)
from glassline.dashboard.queries.rollups import (
    REQUEST_KIND,
    Totals,
    breakdown,
    percentiles,
    requests_series,
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
    "breakdown",
    "cache_savings",
    "cached_token_savings_usd",
    "find_tables",
    "firing_alerts",
    "get_trace",
    "list_traces",
    "percentiles",
    "read_table",
    "requests_series",
    "sampling_summary",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "user_spend",
]
