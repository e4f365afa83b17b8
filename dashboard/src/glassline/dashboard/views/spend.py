"""Spend: cost by model, tenant, user, stage, route and day; tokens; cache savings; fallbacks."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from glassline.dashboard import charts, data, formats, navigation, queries, tabular, ui
from glassline.pricing import format_usd

ctx = ui.context()
window = ctx.window
st.title("Spend")

cube = data.run(queries.cube, window)
totals = queries.totals_from(cube)
if totals.cost_usd == 0 and totals.requests == 0:
    ui.show_no_data()
    st.stop()

savings = queries.cache_savings(queries.group(cube, "model"))
saved = savings["saved_usd"].dropna().sum()
c = st.columns(4)
c[0].metric("Total spend", format_usd(totals.cost_usd), border=True)
per_request = totals.cost_usd / totals.requests if totals.requests else None
c[1].metric("Cost per request", format_usd(per_request), border=True)
c[2].metric("Saved by prompt caching", format_usd(saved), border=True)
c[3].metric("Fallbacks", formats.fmt_int(totals.fallbacks), border=True)

LABELS = {
    "model": "Model",
    "tenant": "Tenant",
    "user_id": "User",
    "stage": "Stage",
    "route": "Route",
}
COLUMNS = ["model", "tenant", "user_id", "stage", "route", "cost_usd", "count", "requests",
           "input_tokens", "output_tokens", "cache_read_tokens", "errors", "fallbacks", "retries"]  # fmt: skip
COLUMN_CONFIG = {
    "cost_usd": tabular.usd_column("Spend"),
    "count": tabular.count_column("Spans"),
    "requests": tabular.count_column("Requests"),
    "input_tokens": tabular.count_column("Input tokens"),
    "output_tokens": tabular.count_column("Output tokens"),
    "cache_read_tokens": tabular.count_column("Cached input tokens"),
    "errors": tabular.count_column("Failed spans"),
    "fallbacks": tabular.count_column("Fallbacks"),
    "retries": tabular.count_column("Retries"),
}
tabs = st.tabs(["Model", "Tenant", "User", "Stage", "Route"])
for tab, by in zip(tabs, ("model", "tenant", "user_id", "stage", "route"), strict=True):
    if by == "user_id":
        frame = data.run(queries.user_spend, window)
    else:
        frame = queries.group(cube, by)
        frame = frame[frame["cost_usd"] > 0]
    frame[by] = frame[by].replace("", "(none)")
    label = LABELS[by]
    bar = navigation.clickable(
        charts.in_usd(
            charts.bar(frame.head(15), by, "cost_usd", f"Spend by {label.lower()} (USD)", True)
        ),
        f"gl_spend_bar_{by}",
        tab,
    )
    target = {"user_id": "user"}.get(by, by)
    if bar:  # a bar, like a row, lists its costliest traces
        navigation.open_traces(ctx, **{target: navigation.point_value(bar), "sort": "costliest"})
    # Fallbacks and retries are counted on the span that decided the route or wrapped the
    # attempts, which calls no model: a table whose rows do not hold them all (per model)
    # leaves the column out rather than show 0 against the total.
    partial = {m for m in ("fallbacks", "retries")
               if m in frame.columns and frame[m].sum() != getattr(totals, m)}  # fmt: skip
    shown = frame[[c for c in COLUMNS if c in frame.columns and c not in partial]]
    if partial:
        tab.caption(f"{' and '.join(sorted(partial)).capitalize()} not shown per "
                    f"{label.lower()}: they are counted on spans without one (where the route "
                    "was decided, around the retried call).")  # fmt: skip
    picked = tabular.table(
        shown, {by: label, **COLUMN_CONFIG}, key=f"gl_spend_{by}", csv_name=f"spend-by-{by}.csv",
        where=tab,
    )  # fmt: skip
    if picked and picked.selection.rows:  # a row lists its costliest traces
        value = str(shown.iloc[picked.selection.rows[0]][by])
        navigation.open_traces(ctx, **{target: value, "sort": "costliest"})

by_day = replace(window, bucket=86400)
daily = data.run(queries.sum_series, by_day)
day = navigation.clickable(
    charts.in_usd(
        charts.bar(
            daily.assign(day=daily["time"].dt.strftime("%Y-%m-%d")),
            "day",
            "cost_usd",
            "Spend per day, UTC (USD)",
            categorical=True,
            partial=by_day.partial_buckets(),  # today so far, and the range's first day in part
        )
    ),
    "gl_spend_daily",
)
if day:  # a day's bar lists its costliest traces
    navigation.open_traces(ctx, day, 86400, sort="costliest")

spent = data.run(queries.sum_series, window)
requests = data.run(queries.sum_series, window, kinds=[queries.REQUEST_KIND])
series = spent[["bucket", "time", "cost_usd"]].merge(
    requests[["bucket", "count"]], on="bucket", how="left"
)
series["cost_per_request"] = series["cost_usd"] / series["count"].where(series["count"] > 0)
markers = data.run(queries.change_markers, window)
left, right = st.columns(2)
per_request_point = navigation.clickable(
    charts.with_markers(
        charts.in_usd(
            charts.line(series, "cost_per_request", "Cost per request (USD)", step_s=window.bucket)
        ),
        markers,
    ),
    "gl_spend_per_request",
    left,
)
# Input tokens include the cached ones (GenAI conventions): split them so nothing counts twice.
tokens = spent.assign(
    **{
        "uncached input": spent["input_tokens"] - spent["cache_read_tokens"],
        "cached input": spent["cache_read_tokens"],
        "output": spent["output_tokens"],
    }
).melt(
    id_vars=["time"],
    value_vars=["uncached input", "cached input", "output"],
    var_name="kind",
    value_name="tokens",
)
tokens_point = navigation.clickable(
    charts.with_markers(
        charts.stacked_bars(
            tokens,
            "time",
            "tokens",
            "kind",
            "Tokens in / out / cached",
            step_s=window.bucket,
            partial=window.partial_buckets(),
        ),
        markers,
    ),
    "gl_spend_tokens",
    right,
)
for clicked in (per_request_point, tokens_point):  # a bucket lists its costliest traces
    if clicked:
        navigation.open_traces(ctx, clicked, window.bucket, sort="costliest")

st.subheader("What caching saved")
st.caption(
    "Cached input tokens priced at the model's full input rate, minus what was paid for them."
)
saved = tabular.table(
    savings,
    {
        "model": "Model",
        "input_tokens": tabular.count_column("Input tokens"),
        "cache_read_tokens": tabular.count_column("Cached input tokens"),
        "cost_usd": tabular.usd_column("Spend"),
        "saved_usd": tabular.usd_column("Saved"),
    },
    key="gl_savings",
    csv_name="cache-savings.csv",
)
if saved and saved.selection.rows:  # a model's costliest traces
    navigation.open_traces(ctx, model=str(savings.iloc[saved.selection.rows[0]]["model"]),
                           sort="costliest")  # fmt: skip

st.subheader("Budget enforcement")
st.caption(
    "Decisions of the apps' budget guards in this range (`glassline.budget.*` on their spans): "
    "denied calls were not made (their spend prevented is the estimate before the call); "
    "degraded calls ran on the app's cheaper path."
)
c = st.columns(4)
c[0].metric("Calls denied", formats.fmt_int(totals.budget_denied), border=True)
c[1].metric("Spend prevented", format_usd(totals.budget_prevented_usd), border=True)
c[2].metric("Calls degraded", formats.fmt_int(totals.budget_degraded), border=True)
c[3].metric("Spend of degraded calls", format_usd(totals.budget_degraded_usd), border=True)

st.subheader("Fallback routes")
routes = queries.group(cube, "route")
fallbacks = routes[routes["fallbacks"] > 0][["route", "count", "fallbacks", "cost_usd"]]
if fallbacks.empty:
    st.caption("No fallback routes taken in this range.")
else:
    fell = tabular.table(
        fallbacks,
        {"route": "Route (fallback target)", **COLUMN_CONFIG},
        key="gl_fallbacks",
        csv_name="fallbacks.csv",
    )
    if fell and fell.selection.rows:  # the route's traces
        navigation.open_traces(ctx, route=str(fallbacks.iloc[fell.selection.rows[0]]["route"]))
