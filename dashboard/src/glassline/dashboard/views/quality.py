"""Quality: evaluation scores over time with change markers, their distribution, the worst-scored
traces, and two prompt versions or models side by side."""

from __future__ import annotations

import streamlit as st

from glassline.dashboard import charts, data, queries, ui

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
st.plotly_chart(charts.with_markers(figure, markers))
if trend["pass_rate"].notna().any():
    st.plotly_chart(charts.with_markers(charts.line(trend.dropna(subset=["pass_rate"]),
                    "pass_rate", f"{name}: pass rate", color=by or "all"), markers))  # fmt: skip
if not markers.empty:
    st.caption("Dotted lines: " + "; ".join(markers["label"]))

dist, worst = st.columns([1, 2])
dist.plotly_chart(charts.bar(data.run(queries.score_distribution, window, name), "percentile",
                             "score", "Score distribution", categorical=True))  # fmt: skip
rows = data.run(queries.worst_scored, window, name)
rows["open"] = [ui.trace_url(ctx, t, n) for t, n in zip(rows["trace_id"], rows["tenant"],
                                                       strict=True)]  # fmt: skip
worst.subheader("Worst-scored traces")
worst.dataframe(rows[["score_value", "score_label", "explanation", "model", "prompt_version",
                      "open"]], hide_index=True,
                column_config={"open": st.column_config.LinkColumn("trace", display_text="open")})  # fmt: skip

st.subheader("Side by side")
c = st.columns(3)
dim = c[0].selectbox("Compare", ["prompt_version", "model"], format_func=splits.__getitem__)
values = sorted({str(v) for v in data.run(queries.score_trend, window, name, dim)[dim]})
if len(values) < 2:
    st.caption(f"Only one {splits[dim].lower()} has {name} scores in this range.")
else:
    a = c[1].selectbox("A", values, 0)
    b = c[2].selectbox("B", values, len(values) - 1)
    st.dataframe(data.run(queries.compare_versions, window, name, dim, a, b), hide_index=True)
    st.caption("Score from the evaluations; calls, cost and tokens per call, p95 and error rate "
               f"from the model calls made with each {splits[dim].lower()} (all of them, before "
               "sampling).")  # fmt: skip
