"""What changed: which tenant, model, stage, route, service or prompt version, API key or user
moved a metric between two periods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard import charts, data, formats, navigation, queries, tabular, trends, ui
from glassline.dashboard.markdown import literal
from glassline.dashboard.window import Window, bucket_seconds
from glassline.pricing import format_usd

ctx = ui.context()
window = ctx.window
params = st.query_params
st.title("What changed")

METRICS = queries.CHANGE_METRICS
DIMENSIONS = {
    "tenant": "Tenant",
    "model": "Model",
    "snapshot": "Model snapshot",
    "stage": "Stage",
    "route": "Route",
    "service_version": "Service version",
    "prompt_version": "Prompt version",
    "api_key": "API key",
    "user": "User",
}


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Spend (USD)" -> "spend (USD)"; "API key" stays."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _pick(label: str, options: dict[str, str], name: str, default: str, col: DeltaGenerator) -> str:
    keys = list(options)
    current = params.get(name, default)
    chosen = col.selectbox(
        label, keys, keys.index(current) if current in keys else 0, format_func=options.__getitem__
    )
    params[name] = chosen
    return str(chosen)


c: Sequence[DeltaGenerator] = st.columns([2, 2, 3])
metric = _pick("Metric", {k: m.label for k, m in METRICS.items()}, "metric", "spend", c[0])
by = _pick("Explained by", DIMENSIONS, "by", "tenant", c[1])
markers = data.run(queries.change_markers, window)
modes = {
    "halves": "first half vs second half of the data in the range",
    "previous": "previous period vs this range",
}
modes.update({f"m{i}": f"before vs after: {m.label}" for i, m in enumerate(markers.itertuples())})
mode = _pick("Compare", modes, "compare", "halves", c[2])

if mode == "previous":
    before, after = window.previous(), window
else:
    first = data.run(queries.data_start, window)
    split = (first or window.start) + (window.end - (first or window.start)) // 2
    if mode.startswith("m") and mode[1:].isdecimal() and int(mode[1:]) < len(markers):
        split = int(markers.iloc[int(mode[1:])]["at"]) // 60 * 60
    split = min(max(split, window.start + 60), window.end - 60)
    before, after = replace(window, end=split), replace(window, start=split)


def _when(w: Window) -> str:
    def fmt(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")

    # From where the period's data begins: a fresh store's "before" is not the whole range.
    start = max(w.start, data.run(queries.data_start, w) or w.start)
    return f"{fmt(start)} to {fmt(w.end)} UTC"


result = data.run(queries.what_changed, before, after, metric, by)
# Values with nothing before or after (a stage that costs nothing) explain nothing.
rows = result.rows[result.rows[["before", "after"]].fillna(0).abs().sum(axis=1) > 0]
rows = rows.reset_index(drop=True)
fmt = {
    "spend": format_usd,
    "p95": formats.fmt_ms,
    "error_rate": formats.fmt_pct,
    "cache_hit_rate": formats.fmt_pct,
}.get(metric, formats.fmt_num)
c = st.columns(3)
c[0].metric(f"Before ({_when(before)})", fmt(result.before), border=True)
c[1].metric(
    f"After ({_when(after)})",
    fmt(result.after),
    formats.fmt_delta(result.after, result.before),
    delta_color="inverse" if metric in ("spend", "p95", "error_rate") else "normal",
    border=True,
)
if rows.empty:
    st.info("No data in these periods: widen the time range in the sidebar.")
    st.stop()
top = rows.iloc[0]
c[2].metric(  # the dimension in the label: "Prompt version v2-sections" was cut to "Prompt ver…"
    f"Largest contribution ({_in_sentence(DIMENSIONS[by])})",
    literal(str(top["value"])) if top["value"] else "(none)",
    f"{top['share']:.0%} of the change",
    delta_color="off",
    border=True,
)

span = Window(before.start, after.end, window.tenant, bucket_seconds(after.end - before.start))
trend = trends.metric_over_time(span, metric, by, list(rows["value"].head(6)))
if trend is not None:
    over_time = st.plotly_chart(
        charts.series_by(
            trend.frame, "y", by, f"{METRICS[metric].label} over time by {_in_sentence(DIMENSIONS[by])}",
            stacked=trend.stacked, step_s=span.bucket,
            markers=markers[(markers["at"] >= span.start) & (markers["at"] < span.end)],
            partial=span.partial_buckets(),
        ),
        on_select="rerun", selection_mode="points", key="gl_changes_series",
    )  # fmt: skip
    hit = over_time.selection.points if over_time else []
    if hit:
        bucket = int(pd.Timestamp(hit[0]["x"]).timestamp())
        value = str(hit[0]["customdata"][0])
        link = {**trends.traces_filter(by, value, metric), "start": str(bucket),
                "end": str(bucket + span.bucket)}  # fmt: skip
        ui.open_page("views/traces.py", ctx, **link)
else:
    st.caption("Over time per user: see the Users page.")

shown = rows.head(12).assign(value=rows["value"].replace("", "(none)"))
st.plotly_chart(
    charts.contributions(
        shown,
        "value",
        metric != "p95",
        f"Contribution to the change in {_in_sentence(METRICS[metric].label)}",
    ),
    on_select="rerun",
    selection_mode="points",
    key="gl_changes_chart",
)
st.caption(
    "Volume: more or fewer requests, calls or stage runs at the old rate; for ratios, *mix*: the "
    "value's share of the volume moved. Rate: what each one costs or takes changed. "
    "Volume counts requests for tenants and users, model calls for models and routes, runs for stages."
)


def _traces_link(value: str) -> dict[str, str]:
    return {"start": str(after.start), "end": str(after.end),
            **trends.traces_filter(by, value, metric)}  # fmt: skip


table = rows.assign(
    traces=["traces?" + urlencode(ctx.link_params(**_traces_link(v))) for v in rows["value"]],
    value=rows["value"].replace("", "(none)"),
)
picked = tabular.table(
    table[
        [
            "traces",
            "value",
            "volume_before",
            "volume_after",
            "before",
            "after",
            "change",
            "volume_or_mix",
            "rate",
            "share",
        ]
    ],
    {
        "traces": st.column_config.LinkColumn("Traces", display_text="open"),
        "value": DIMENSIONS[by],
        "volume_before": tabular.count_column("Volume before"),
        "volume_after": tabular.count_column("Volume after"),
        "before": tabular.measure_column("Before", metric),
        "after": tabular.measure_column("After", metric),
        "change": tabular.measure_column("Change", metric),
        "volume_or_mix": tabular.measure_column("Volume / mix part", metric),
        "rate": tabular.measure_column("Rate part", metric),
        "share": st.column_config.ProgressColumn(
            "Share of the change", format="percent", min_value=0, max_value=1
        ),
    },
    key="gl_changes_table",
    csv_name=f"what-changed-{metric}-by-{by}.csv",
)
chosen = picked.selection.rows if picked else []
points = st.session_state.get("gl_changes_chart")
clicked = points.selection.points if points and points.selection else []
target: str | None = None
if chosen:
    target = rows.iloc[chosen[0]]["value"]
elif clicked:
    target = navigation.point_value(clicked[0])
    target = "" if target == "(none)" else target
if target is not None:
    ui.open_page("views/traces.py", ctx, **_traces_link(target))
