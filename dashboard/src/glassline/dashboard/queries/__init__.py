"""Pure SQLAlchemy queries behind the dashboard pages; no Streamlit here, so they test alone."""

from __future__ import annotations

from glassline.dashboard.queries.changes import (
    CHANGE_DIMENSIONS,
    CHANGE_METRICS,
    Changes,
    change_markers,
    data_start,
    what_changed,
)
from glassline.dashboard.queries.ops import (
    OpsTables,
    alert_history,
    alert_states,
    find_tables,
    sampling_summary,
)
from glassline.dashboard.queries.rollups import (
    REQUEST_KIND,
    PercentileView,
    Totals,
    breakdown,
    cube,
    group,
    percentile_views,
    percentiles,
    request_latency,
    spend_between,
    sum_series,
    tenants,
    totals,
    totals_from,
    user_spend,
)
from glassline.dashboard.queries.savings import cache_savings, cached_token_savings_usd
from glassline.dashboard.queries.traces import (
    SORTS,
    TraceDetail,
    TraceFilter,
    TracePage,
    error_traces,
    get_trace,
    list_traces,
)

__all__ = [
    "CHANGE_DIMENSIONS",
    "CHANGE_METRICS",
    "REQUEST_KIND",
    "SORTS",
    "Changes",
    "OpsTables",
    "PercentileView",
    "Totals",
    "TraceDetail",
    "TraceFilter",
    "TracePage",
    "alert_history",
    "alert_states",
    "breakdown",
    "cache_savings",
    "cached_token_savings_usd",
    "change_markers",
    "cube",
    "data_start",
    "error_traces",
    "find_tables",
    "get_trace",
    "group",
    "list_traces",
    "percentile_views",
    "percentiles",
    "request_latency",
    "sampling_summary",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "totals_from",
    "user_spend",
    "what_changed",
]
