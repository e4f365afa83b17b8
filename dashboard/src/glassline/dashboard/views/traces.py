"""Traces: a filterable, sortable, paged list; every row and chart point links to its trace."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard import data, navigation, queries, spans, tabular, trace_charts, ui

ctx = ui.context()
window = ctx.window
params = st.query_params
st.title("Traces")

FILTERS = ("user", "session", "model", "stage", "route", "key", "status", "outcome", "min_cost",
           "min_ms", "name", "q", "sort")  # fmt: skip
SEARCH_HELP = (
    "Searches the stored (redacted) prompts, completions, tool calls, errors and span names: "
    'all words must appear; "an exact phrase", prefix* and -excluded words work too. Looks '
    f"at the {queries.SEARCH_DOCUMENTS:,} newest matches in the time range."
)
STATUSES = {"": "any", "error": "with a failed span", "ok": "without a failed span"}
OUTCOMES = {"": "any", "error": "failed", "ok": "succeeded"}


def _choice(
    label: str, options: dict[str, str], name: str, col: st.delta_generator.DeltaGenerator
) -> str:
    keys = list(options)
    current = params.get(name, "")
    index = keys.index(current) if current in keys else 0
    return str(col.selectbox(label, keys, index, format_func=options.__getitem__))


def _float(name: str) -> float:
    """A number filter from the URL; junk, a negative or a non-finite one is no filter (``inf``
    failed the page: the number input refuses a value past the largest float)."""
    try:
        value = float(params.get(name, 0) or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


search = st.text_input(
    "Search",
    params.get("q", ""),
    placeholder='refund "damaged blender" -cancel',
    help=SEARCH_HELP,
)
with st.expander("Filters", expanded=any(params.get(k) for k in FILTERS[:-2])):
    c: Sequence[DeltaGenerator] = st.columns(5)
    user = c[0].text_input("User", params.get("user", ""))
    session = c[1].text_input("Session", params.get("session", ""))
    model = c[2].text_input("Model", params.get("model", ""), help="gpt-4o finds every snapshot")
    stage = c[3].text_input("Stage", params.get("stage", ""))
    route = c[4].text_input("Route", params.get("route", ""))
    c = st.columns(5)
    outcome = _choice("Request", OUTCOMES, "outcome", c[0])
    status = _choice("Spans", STATUSES, "status", c[1])
    min_cost = c[2].number_input("Min cost (USD)", 0.0, value=_float("min_cost"), format="%.6f")
    min_ms = c[3].number_input("Min duration (ms)", 0.0, value=_float("min_ms"), step=100.0)
    name = c[4].text_input("Span name contains", params.get("name", ""))
    c = st.columns(5)
    key_name = c[0].text_input("API key (name)", params.get("key", ""))
    c[1].caption("Service and prompt version: the sidebar's filters apply here too.")
sorts = list(queries.SORTS)
sort = (
    st.segmented_control(
        "Sort", sorts, default=params.get("sort") if params.get("sort") in sorts else "newest"
    )
    or "newest"
)

values = {
    "user": user,
    "session": session,
    "model": model,
    "stage": stage,
    "route": route,
    "key": key_name,
    "status": status,
    "outcome": outcome,
    "min_cost": f"{min_cost:g}" if min_cost else "",
    "min_ms": f"{min_ms:g}" if min_ms else "",
    "name": name,
    "q": search,
    "sort": "" if sort == "newest" else sort,
}
if any(params.get(k, "") != v for k, v in values.items()):
    st.session_state["gl_trace_page"] = 0  # new filters start at the first page
for key, value in values.items():
    if value:
        params[key] = value
    elif key in params:
        del params[key]

filters = queries.TraceFilter(
    user_id=user.strip(),
    session_id=session.strip(),
    model=model.strip(),
    stage=stage.strip(),
    route=route.strip(),
    service_version=window.service_version or "",
    prompt_version=window.prompt_version or "",
    api_key=key_name.strip(),
    status=status,
    outcome=outcome,
    min_cost_usd=min_cost,
    min_duration_ms=min_ms,
    name_contains=name.strip(),
    text=search.strip(),
)
page_no = st.session_state.setdefault("gl_trace_page", 0)
try:
    result = data.run(queries.list_traces, window, filters, sort, page_no)
except queries.QueryError as exc:
    st.warning(f"Search {exc.message}.")
    st.stop()
rows = result.rows
if rows.empty and page_no == 0:
    if filters == queries.TraceFilter():
        ui.show_no_data()
    else:
        st.info("No trace matches these filters in this time range.")
    st.stop()

rows["open"] = [
    navigation.trace_url(ctx, t, n) for t, n in zip(rows["trace_id"], rows["tenant"], strict=True)
]
rows["root_name"] = spans.request_names(rows["root_name"])
picked = tabular.table(
    rows[
        [
            "open",
            "start",
            "root_name",
            "tenant",
            "error_count",
            "duration_ms",
            "cost_usd",
            "span_count",
            "input_tokens",
            "output_tokens",
            "user_id",
            "session_id",
            "trace_id",
        ]
    ],
    {
        "open": st.column_config.LinkColumn("trace", display_text="open"),
        "start": tabular.utc_column("start (UTC)"),
        "root_name": "request",
        "error_count": tabular.count_column("failed spans"),
        "duration_ms": st.column_config.NumberColumn("duration", format="%.1f ms"),
        "cost_usd": tabular.usd_column("cost"),
        "span_count": tabular.count_column("spans"),
        "input_tokens": tabular.count_column("input tokens"),
        "output_tokens": tabular.count_column("output tokens"),
        "user_id": "user",
        "session_id": "session",
        "trace_id": "trace id",
    },
    key="gl_trace_table",
    csv_name="traces.csv",
)
c = st.columns([1, 1, 6])
if c[0].button("Previous", disabled=page_no == 0):
    st.session_state["gl_trace_page"] = page_no - 1
    st.rerun()
if c[1].button("Next", disabled=not result.has_next):
    st.session_state["gl_trace_page"] = page_no + 1
    st.rerun()
shown = f"{len(rows)} trace{'' if len(rows) == 1 else 's'}"
c[2].caption(f"Page {page_no + 1}, {shown}. Click a row or a point to open it.")

chosen = picked.selection.rows if picked else []
if chosen:
    row = rows.iloc[chosen[0]]
    st.switch_page("views/trace.py", query_params=ctx.nav_params(trace=row["trace_id"]))

points = st.plotly_chart(
    trace_charts.trace_scatter(rows, "Duration of the listed traces"),
    on_select="rerun",
    selection_mode="points",
    key="gl_trace_scatter",
)
selected = points.selection.points if points else []
if selected:
    trace_id = selected[0]["customdata"][0]
    st.switch_page("views/trace.py", query_params=ctx.nav_params(trace=trace_id))
