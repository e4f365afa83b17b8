"""Latency: p50/p95/p99 per stage and per model over time, where the time goes, TTFT."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from glassline.dashboard import charts, data, formats, navigation, queries, tabular, ui

ctx = ui.context()
window = ctx.window
st.title("Latency")

# One scan per view: stage sketches; model latency and TTFT sketches read together.
stage_view = data.run(queries.percentile_views, window, "stage", ["stage"])["latency_sketch"]
model_views = data.run(
    queries.percentile_views, window, "model", ["llm"], ("latency_sketch", "ttft_sketch")
)
stages, models = stage_view.over_time, model_views["latency_sketch"].over_time
if stages.empty and models.empty:
    ui.show_no_data()
    st.stop()

markers = data.run(queries.change_markers, window)
left, right = st.columns(2)
# A point lists the slowest traces of its stage or model in its bucket.
for col, frame, by in ((left, stages, "stage"), (right, models, "model")):
    if frame.empty:
        continue
    title = f"Per {by}: p50 / p95 / p99"
    point = navigation.clickable(
        charts.with_markers(charts.percentile_lines(frame, by, title, window.bucket), markers),
        f"gl_latency_{by}",
        col,
    )
    if point:
        navigation.open_traces(
            ctx, point, window.bucket, **{by: navigation.point_value(point), "sort": "slowest"}
        )

# Where the time of a typical request goes: time spent in each stage per request, per bucket.
per_stage = data.run(queries.sum_series, window, "stage", ["stage"])
requests = data.run(queries.sum_series, window, kinds=[queries.REQUEST_KIND])
requests = requests[["bucket", "count"]].rename(columns={"count": "requests"})
breakdown = per_stage.merge(requests, on="bucket", how="left")
breakdown["ms_per_request"] = breakdown["duration_sum_ms"] / breakdown["requests"].where(
    breakdown["requests"] > 0
)
point = navigation.clickable(
    charts.with_markers(
        charts.stacked_bars(
            breakdown,
            "time",
            "ms_per_request",
            "stage",
            "Stage breakdown: ms per request",
            step_s=window.bucket,
        ),
        markers,
    ),
    "gl_latency_breakdown",
)
if point:
    navigation.open_traces(
        ctx, point, window.bucket, stage=navigation.point_value(point), sort="slowest"
    )

st.subheader("Slowest stages and their trend")
current = stage_view.overall
previous = data.run(queries.percentiles, window.previous(), "stage", ["stage"], False)
trend = current.merge(
    previous[["stage", "p95"]].rename(columns={"p95": "p95_before"}), on="stage", how="left"
)
trend["p95 change"] = [
    formats.fmt_delta(a, b) if pd.notna(b) else "new"
    for a, b in zip(trend["p95"], trend["p95_before"], strict=True)
]
slowest = tabular.table(
    trend[["stage", "count", "p50", "p95", "p99", "p95_before", "p95 change"]],
    {
        "stage": "Stage",
        "count": tabular.count_column("Runs"),
        # Two decimals: a sub-millisecond stage reads 0.35 ms, not 0 ms.
        **{
            c: st.column_config.NumberColumn(label, format="%.2f ms")
            for c, label in (
                ("p50", "p50"),
                ("p95", "p95"),
                ("p99", "p99"),
                ("p95_before", "p95, previous period"),
            )
        },
        "p95 change": "p95 change",
    },
    key="gl_slowest_stages",
    csv_name="slowest-stages.csv",
)
st.caption("Click a stage to list its slowest traces.")
if slowest and slowest.selection.rows:
    stage = str(trend.iloc[slowest.selection.rows[0]]["stage"])
    ui.open_page("views/traces.py", ctx, stage=stage, sort="slowest")  # fmt: skip

st.subheader("Time to first token (streaming calls)")
ttft = model_views["ttft_sketch"].over_time
if ttft.empty:
    st.caption("No streaming LLM calls in this range (TTFT is recorded for streamed responses).")
else:
    point = navigation.clickable(
        charts.with_markers(
            charts.percentile_lines(ttft, "model", "Time to first token per model", window.bucket),
            markers,
        ),
        "gl_latency_ttft",
    )
    if point:
        navigation.open_traces(
            ctx, point, window.bucket, model=navigation.point_value(point), sort="slowest"
        )
