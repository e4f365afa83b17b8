"""Overview: the headline figures with their change versus the previous period."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.collector.alerts.models import FIRING
from glassline.dashboard import (
    alert_table,
    budgets,
    charts,
    data,
    formats,
    navigation,
    queries,
    tabular,
    ui,
)
from glassline.dashboard.window import calendar_starts
from glassline.pricing import format_usd

LLM_HELP = "Duration of the model calls (LLM spans): a request answered from a cache makes none."
CACHE_HELP = "Cache lookups answered from the cache: those requests skip retrieval and the model."

ctx = ui.context()
window = ctx.window
st.title("Overview")

cube, cube_before = data.run(queries.cube, window), data.run(queries.cube, window.previous())
now, before = queries.totals_from(cube), queries.totals_from(cube_before)
now.latency_ms = data.run(queries.request_latency, window)
llm_now = data.run(queries.llm_latency, window)
llm_before = data.run(queries.llm_latency, window.previous())
if now.requests == 0 and now.cost_usd == 0:
    ui.show_no_data()
    st.stop()

c: Sequence[DeltaGenerator] = st.columns(5)
formats.tile(c[0], "Requests", now.requests, before.requests)
# A failed request is one whose own (root) span failed; a trace with errors has any failed
# span, e.g. a 429 that was retried or a model that fell back, while the request succeeded.
formats.tile(
    c[1], "Failed requests", now.error_rate, before.error_rate, formats.fmt_pct, up_is_bad=True
)
errors_now = data.run(queries.error_traces, window)
errors_before = data.run(queries.error_traces, window.previous())
formats.tile(c[2], "Traces with errors", errors_now, errors_before, up_is_bad=True)
formats.tile(c[3], "Spend", now.cost_usd, before.cost_usd, format_usd, up_is_bad=True)
formats.tile(c[4], "Retries", now.retries, before.retries, up_is_bad=True)
# Model calls, not requests: a request answered from a cache takes a fraction of a millisecond,
# and with most of them cached that was the request p50 (`make demo`: "Latency p50 0.25 ms").
# The cache's share sits beside; end to end, cached or not, reads in the caption.
c = st.columns(4)
for col, q in zip(c, (0.5, 0.95, 0.99), strict=False):
    label = f"LLM call p{round(q * 100)}"
    formats.tile(col, label, llm_now.get(q), llm_before.get(q), formats.fmt_ms, True, help=LLM_HELP)
formats.tile(c[3], "Cache hit rate", now.cache_hit_rate, before.cache_hit_rate,
             formats.fmt_pct, help=CACHE_HELP)  # fmt: skip
st.caption(
    "LLM call latency is the model's answer time, each attempt on its own. "
    f"End to end, all requests including those answered from a cache: "
    f"p50 {formats.fmt_ms(now.latency_ms.get(0.5))}, "
    f"p95 {formats.fmt_ms(now.latency_ms.get(0.95))}; "
    "each stage's share is on the Latency page."
)
c = st.columns(4)
formats.tile(c[0], "Input tokens", now.input_tokens, before.input_tokens)
formats.tile(c[1], "Output tokens", now.output_tokens, before.output_tokens)
formats.tile(c[2], "Cached input tokens", now.cache_read_tokens, before.cache_read_tokens)
formats.tile(c[3], "Fallbacks", now.fallbacks, before.fallbacks, up_is_bad=True)

# Calendar spend (UTC) ignores the range length: it is the figure budgets are about.
day_start, month_start = calendar_starts(window.end - 1)  # pinned windows: their own day
tables = data.run(queries.find_tables)
firing = data.run(
    queries.alert_states, window.tenant, only_firing=True, limit=tabular.MAX_TABLE_ROWS
)
firing_count = data.run(queries.alert_counts, window.tenant).get(FIRING, 0)
c = st.columns(4)
today = data.run(queries.spend_between, day_start, window.end, window.tenant)
month = data.run(queries.spend_between, month_start, window.end, window.tenant)
c[0].metric("Spend today (UTC)", format_usd(today), border=True)
c[1].metric("Spend this month (UTC)", format_usd(month), border=True)
c[2].metric("Firing alerts", firing_count, border=True)
# Spans the apps' SDKs could not export (their queue was full): reported, then counted here.
formats.tile(
    c[3], "Spans lost in the app", now.sdk_lost_spans, before.sdk_lost_spans, up_is_bad=True
)
if not tables.alerts:
    st.caption(
        "No alert tables in the store yet: budgets and alerts come from the collector's rules."
    )
budgets.show_budgets(window)

left, right = st.columns(2)
# Only what cost something: a stage without model calls (retrieval) would be a label, no bar.
by_model = queries.group(cube, "model").query("model != '' and cost_usd > 0").head(8)
by_stage = queries.group(cube, "stage").query("stage != '' and cost_usd > 0").head(8)
for col, frame, by, title in (
    (left, by_model, "model", "Top models by spend (USD)"),
    (right, by_stage, "stage", "Top stages by spend (USD)"),
):
    # A click on a bar lists that model's or stage's costliest traces.
    chosen = col.plotly_chart(
        charts.in_usd(charts.bar(frame, by, "cost_usd", title, True)),
        on_select="rerun", selection_mode="points", key=f"gl_top_{by}",
    )  # fmt: skip
    if chosen and chosen.selection.points:
        value = navigation.point_value(chosen.selection.points[0])
        ui.open_page("views/traces.py", ctx, **{by: value, "sort": "costliest"})
series = data.run(queries.sum_series, window, kinds=[queries.REQUEST_KIND])
requests_chart = charts.line(
    series.rename(columns={"count": "requests"}), "requests", "Requests", step_s=window.bucket,
    partial=window.partial_buckets(),
)  # fmt: skip
point = navigation.clickable(
    charts.with_markers(requests_chart, data.run(queries.change_markers, window)),
    "gl_requests",
)
if point:  # a point lists the requests of its bucket
    navigation.open_traces(ctx, point, window.bucket)
if not firing.empty:
    st.subheader("Firing alerts")
    if firing_count > len(firing):
        st.caption(f"The {len(firing):,} latest of {firing_count:,} firing alerts.")
    picked = tabular.table(
        alert_table.in_units(firing), alert_table.COLUMNS, key="gl_firing",
        csv_name="firing-alerts.csv", csv_frame=firing,
    )  # fmt: skip
    if picked and picked.selection.rows:
        navigation.alert_traces(ctx, firing.iloc[picked.selection.rows[0]])
st.page_link(
    "views/traces.py",
    label="Browse the traces of this period",
    icon=":material/list:",
    query_params=ctx.nav_params(),
)
