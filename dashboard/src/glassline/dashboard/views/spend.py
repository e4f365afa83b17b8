"""Spend: cost by model, tenant, user, stage, route and day; tokens; cache savings; fallbacks."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from glassline.dashboard import charts, data, queries, ui

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
c[0].metric("Total spend", ui.fmt_usd(totals.cost_usd), border=True)
per_request = totals.cost_usd / totals.requests if totals.requests else None
c[1].metric("Cost per request", ui.fmt_usd(per_request), border=True)
c[2].metric("Saved by prompt caching", ui.fmt_usd(saved), border=True)
c[3].metric("Fallback calls", ui.fmt_int(totals.fallbacks), border=True)

tabs = st.tabs(["Model", "Tenant", "User", "Stage", "Route"])
for tab, by in zip(tabs, ("model", "tenant", "user_id", "stage", "route"), strict=True):
    if by == "user_id":
        frame = data.run(queries.user_spend, window)
    else:
        frame = queries.group(cube, by)
        frame = frame[frame["cost_usd"] > 0]
    frame[by] = frame[by].replace("", "(none)")
    tab.plotly_chart(charts.bar(frame.head(15), by, "cost_usd", f"Spend by {by} (USD)", True))
    tab.dataframe(frame, hide_index=True)

daily = data.run(queries.sum_series, replace(window, bucket=86400))
st.plotly_chart(
    charts.bar(
        daily.assign(day=daily["time"].dt.strftime("%Y-%m-%d")),
        "day",
        "cost_usd",
        "Spend per day, UTC (USD)",
        categorical=True,
    )
)

spent = data.run(queries.sum_series, window)
requests = data.run(queries.sum_series, window, kinds=[queries.REQUEST_KIND])
series = spent[["bucket", "time", "cost_usd"]].merge(
    requests[["bucket", "count"]], on="bucket", how="left"
)
series["cost_per_request"] = series["cost_usd"] / series["count"].where(series["count"] > 0)
left, right = st.columns(2)
left.plotly_chart(
    charts.line(series, "cost_per_request", "Cost per request (USD)", step_s=window.bucket)
)
# Input tokens include the cached ones (GenAI conventions): split them so nothing counts twice.
tokens = spent.assign(
    uncached_input=spent["input_tokens"] - spent["cache_read_tokens"],
    cached_input=spent["cache_read_tokens"],
    output=spent["output_tokens"],
).melt(
    id_vars=["time"],
    value_vars=["uncached_input", "cached_input", "output"],
    var_name="tokens",
    value_name="n",
)
right.plotly_chart(charts.stacked_bars(tokens, "time", "n", "tokens", "Tokens in / out / cached"))

st.subheader("What caching saved")
st.caption(
    "Cached input tokens priced at the model's full input rate, minus what was paid for them."
)
st.dataframe(savings, hide_index=True)

st.subheader("Fallback routes")
routes = queries.group(cube, "route")
fallbacks = routes[routes["fallbacks"] > 0][["route", "count", "fallbacks", "cost_usd"]]
if fallbacks.empty:
    st.caption("No fallback routes taken in this range.")
else:
    st.dataframe(fallbacks, hide_index=True)
