"""Quality: evaluation scores over time with change markers, their distribution, the worst-scored
traces, and two prompt versions or models side by side. A quality signal (``glassline.fallback``
...) is a count, not a score: its rate over the calls instead, and the traces that carry it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from glassline.dashboard import charts, data, formats, navigation, queries, tabular, ui
from glassline.dashboard.markdown import literal
from glassline.dashboard.window import Window
from glassline.pricing import format_usd

# The side-by-side rows are measures, each read in its unit (a score as three digits).
UNITS: dict[str, Callable[[float | None], str]] = {
    "evaluations": formats.fmt_int, "pass rate": formats.fmt_pct, "calls": formats.fmt_int,
    "cost per call (USD)": format_usd, "tokens per call": formats.fmt_num,
    "p95 (ms)": formats.fmt_ms, "error rate": formats.fmt_pct,
    "signals": formats.fmt_int, "tool calls": formats.fmt_int, "signal rate": formats.fmt_pct,
}  # fmt: skip
SPLITS = {"prompt_version": "Prompt version", "model": "Model", "stage": "Stage", "": "Overall"}
# What a signal's rate is over, by the kind of span it is counted against.
CALLS = {"llm": "LLM calls", "tool": "tool calls"}


def _read(measure: str, value: Any) -> str:
    if value is None or pd.isna(value):
        return tabular.MISSING
    return UNITS.get(measure, "{:.3g}".format)(float(value))


def _unplaced(trend: pd.DataFrame) -> int:
    """Signals on spans without the split's value that has calls (no rate of their own)."""
    return int(trend.loc[trend["calls"] == 0, "signals"].sum())


def _signal_chart(window: Window, name: str, kind: str, by: str) -> tuple[go.Figure, str]:
    """Tiles of a signal's rate, count and calls in the range, and its rate's chart with the
    split it draws. Split by what its spans do not carry (a fallback is decided on a stage
    span, which has no model) it draws the overall rate: a line at 0 per model would say that
    no call fell back."""
    trend = data.run(queries.signal_rate, window, name, by)
    signals, calls = int(trend["signals"].sum()), int(trend["calls"].sum())
    c = st.columns(3)
    c[0].metric(f"{name} rate", formats.fmt_pct(signals / calls if calls else None), border=True,
                help=f"Signals over the {CALLS[kind]} in this range, before sampling.")  # fmt: skip
    c[1].metric(f"{name} signals", formats.fmt_int(signals), border=True)
    c[2].metric(CALLS[kind], formats.fmt_int(calls), border=True)
    unplaced = _unplaced(trend)
    if by and unplaced and unplaced == signals:
        st.caption(f"{literal(name)} is recorded on spans without a {SPLITS[by].lower()}: "
                   f"its rate over all {CALLS[kind]}.")  # fmt: skip
        trend, by = data.run(queries.signal_rate, window, name, ""), ""
    elif by and unplaced:
        st.caption(f"{unplaced:,} of the {signals:,} signals are on spans without a "
                   f"{SPLITS[by].lower()}: they count in the rate above, not in a line.")  # fmt: skip
    rate = charts.line(trend.dropna(subset=["rate"]), "rate", f"{name}: share of {CALLS[kind]}",
                       color=by or "all")  # fmt: skip
    return rate.update_yaxes(tickformat=".1%"), by


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
by = right.selectbox("Split by", list(SPLITS), format_func=SPLITS.__getitem__)

kind = queries.rate_over(name)
markers = data.run(queries.change_markers, window)
if kind is None:
    trend = data.run(queries.score_trend, window, name, by)
    figures = [(charts.line(trend, "mean", f"{name}: mean score", color=by or "all"),
                "gl_quality_mean")]  # fmt: skip
    if trend["pass_rate"].notna().any():
        rates = trend.dropna(subset=["pass_rate"])
        figures.append((charts.line(rates, "pass_rate", f"{name}: pass rate", color=by or "all"),
                        "gl_quality_pass"))  # fmt: skip
else:
    rate, by = _signal_chart(window, name, kind, by)
    figures = [(rate, "gl_quality_rate")]
points = [navigation.clickable(charts.with_markers(f, markers), key) for f, key in figures]
for point in points:  # a point: the traces of its bucket (and its model or stage)
    if point:
        filters = {by: navigation.point_value(point)} if by in ("model", "stage") else {}
        navigation.open_traces(ctx, point, window.bucket, **filters)
if not markers.empty:
    st.caption("Dotted lines: " + "; ".join(literal(label) for label in markers["label"]))

if kind is None:
    dist, where = st.columns([1, 2])
    dist.plotly_chart(charts.bar(data.run(queries.score_distribution, window, name),
                                 "percentile", "score", "Score distribution",
                                 categorical=True))  # fmt: skip
    rows = data.run(queries.worst_scored, window, name)
    shown = {"score_value": "Score", "score_label": "Label", "explanation": "Explanation",
             "model": "Model", "prompt_version": "Prompt version"}  # fmt: skip
    title, csv_name = "Worst-scored traces", "worst-scored.csv"
else:
    where = st.container()
    rows = data.run(queries.signal_traces, window, name)
    shown = {"time": tabular.utc_column("Time (UTC)"), "score_value": "Value", "stage": "Stage", "model": "Model",
             "prompt_version": "Prompt version"}  # fmt: skip
    title, csv_name = f"Traces with {name}", f"{name}.csv"
rows["open"] = [navigation.trace_url(ctx, t, n)
                for t, n in zip(rows["trace_id"], rows["tenant"], strict=True)]  # fmt: skip
where.subheader(title)
picked = tabular.table(rows[[*shown, "open"]],
                       {**shown, "open": st.column_config.LinkColumn("Trace", display_text="open")},
                       key="gl_quality_traces", csv_name=csv_name, where=where)  # fmt: skip
if picked and picked.selection.rows:
    row = rows.iloc[picked.selection.rows[0]]
    st.switch_page("views/trace.py", query_params=ctx.nav_params(trace=row["trace_id"]))

st.subheader("Side by side")
c = st.columns(3)
dim = c[0].selectbox("Compare", ["prompt_version", "model"], format_func=SPLITS.__getitem__)
if kind is None:
    values = sorted({str(v) for v in data.run(queries.score_trend, window, name, dim)[dim]})
else:  # every value with calls compares, one without a signal at 0
    by_dim = data.run(queries.signal_rate, window, name, dim)
    values = sorted({str(v) for v in by_dim.loc[by_dim["calls"] > 0, dim]})
if kind is not None and by_dim["signals"].sum() and _unplaced(by_dim) == by_dim["signals"].sum():
    st.caption(f"{literal(name)} is recorded on spans without a {SPLITS[dim].lower()}: "
               f"no rate per {SPLITS[dim].lower()}.")  # fmt: skip
elif len(values) < 2:
    has = f"{literal(name)} scores" if kind is None else CALLS[kind]
    st.caption(f"Only one {SPLITS[dim].lower()} has {has} in this range.")
else:
    a = c[1].selectbox("A", values, 0)
    b = c[2].selectbox("B", values, len(values) - 1)
    side = data.run(queries.compare_versions, window, name, dim, a, b)
    # Rows are measures of two values at once: no one trace list to open, a CSV to take away
    # (of the numbers).
    shown_side = side.copy()
    for column in side.columns[1:]:
        shown_side[column] = [_read(m, v) for m, v in zip(side["measure"], side[column],
                                                          strict=True)]  # fmt: skip
    tabular.table(shown_side, {}, key="gl_side_by_side", csv_name="side-by-side.csv",
                  csv_frame=side)  # fmt: skip
    first = (
        "Score from the evaluations"
        if kind is None
        else f"Signals from the evaluations, their rate over the {CALLS[kind]} made with each"
    )
    st.caption(
        f"{first}; calls, cost and tokens per call, p95 and error rate from the model "
        f"calls made with each {SPLITS[dim].lower()} (all of them, before sampling)."
    )
