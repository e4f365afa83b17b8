"""Quality: evaluation scores over time with change markers, their distribution, the worst-scored
traces, and two prompt versions or models side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from glassline.dashboard import charts, data, formats, navigation, queries, tabular, ui
from glassline.dashboard.markdown import literal
from glassline.pricing import format_usd

# The side-by-side rows are measures, each read in its unit (a score as three digits).
UNITS: dict[str, Callable[[float | None], str]] = {
    "evaluations": formats.fmt_int, "pass rate": formats.fmt_pct, "calls": formats.fmt_int,
    "cost per call (USD)": format_usd, "tokens per call": formats.fmt_num,
    "p95 (ms)": formats.fmt_ms, "error rate": formats.fmt_pct,
}  # fmt: skip


def _read(measure: str, value: Any) -> str:
    if value is None or pd.isna(value):
        return tabular.MISSING
    return UNITS.get(measure, "{:.3g}".format)(float(value))


ctx = ui.context()
window = ctx.window
params = st.query_params
st.title("Quality")

names = data.run(queries.quality_names, window)
if not names:
    ui.show_no_data("No evaluations in this time range yet (record_evaluation, evaluate(), "
                    "POST /api/v1/evaluations, or the quality signals computed at ingest).")  # fmt: skip
    st.stop()
left, right = st.columns(2)
name = left.selectbox("Evaluation", names, names.index(params["evaluation"])
                      if params.get("evaluation") in names else 0)  # fmt: skip
params["evaluation"] = name
splits = {"prompt_version": "Prompt version", "model": "Model", "stage": "Stage", "": "Overall"}
by = right.selectbox("Split by", list(splits), format_func=splits.__getitem__)

trend = data.run(queries.score_trend, window, name, by)
markers = data.run(queries.change_markers, window)
figure = charts.line(trend, "mean", f"{name}: mean score", color=by or "all")
points = [navigation.clickable(charts.with_markers(figure, markers), "gl_quality_mean")]
if trend["pass_rate"].notna().any():
    rates = trend.dropna(subset=["pass_rate"])
    pass_rate = charts.line(rates, "pass_rate", f"{name}: pass rate", color=by or "all")
    points.append(navigation.clickable(charts.with_markers(pass_rate, markers), "gl_quality_pass"))
for point in points:  # a point: the traces of its bucket (and its model or stage)
    if point:
        filters = {by: navigation.point_value(point)} if by in ("model", "stage") else {}
        navigation.open_traces(ctx, point, window.bucket, **filters)
if not markers.empty:
    st.caption("Dotted lines: " + "; ".join(literal(label) for label in markers["label"]))

dist, worst = st.columns([1, 2])
dist.plotly_chart(charts.bar(data.run(queries.score_distribution, window, name), "percentile",
                             "score", "Score distribution", categorical=True))  # fmt: skip
rows = data.run(queries.worst_scored, window, name)
rows["open"] = [navigation.trace_url(ctx, t, n)
                for t, n in zip(rows["trace_id"], rows["tenant"], strict=True)]  # fmt: skip
worst.subheader("Worst-scored traces")
picked = tabular.table(rows[["score_value", "score_label", "explanation", "model",
                             "prompt_version", "open"]],
                       {"score_value": "Score", "score_label": "Label",
                        "explanation": "Explanation", "model": "Model",
                        "prompt_version": "Prompt version",
                        "open": st.column_config.LinkColumn("Trace", display_text="open")},
                       key="gl_worst_scored", csv_name="worst-scored.csv", where=worst)  # fmt: skip
if picked and picked.selection.rows:
    row = rows.iloc[picked.selection.rows[0]]
    st.switch_page("views/trace.py", query_params=ctx.nav_params(trace=row["trace_id"]))

st.subheader("Side by side")
c = st.columns(3)
dim = c[0].selectbox("Compare", ["prompt_version", "model"], format_func=splits.__getitem__)
values = sorted({str(v) for v in data.run(queries.score_trend, window, name, dim)[dim]})
if len(values) < 2:
    st.caption(f"Only one {splits[dim].lower()} has {literal(name)} scores in this range.")
else:
    a = c[1].selectbox("A", values, 0)
    b = c[2].selectbox("B", values, len(values) - 1)
    side = data.run(queries.compare_versions, window, name, dim, a, b)
    # Rows are measures of two values at once: no one trace list to open, a CSV to take away
    # (of the numbers).
    shown = side.copy()
    for column in side.columns[1:]:
        shown[column] = [_read(m, v) for m, v in zip(side["measure"], side[column], strict=True)]
    tabular.table(shown, {}, key="gl_side_by_side", csv_name="side-by-side.csv", csv_frame=side)
    st.caption("Score from the evaluations; calls, cost and tokens per call, p95 and error rate "
               f"from the model calls made with each {splits[dim].lower()} (all of them, before "
               "sampling).")  # fmt: skip
