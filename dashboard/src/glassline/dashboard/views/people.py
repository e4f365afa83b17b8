"""Sessions and users: who spends, how their activity moves, and a session's turns in order."""

from __future__ import annotations

import streamlit as st

from glassline.dashboard import charts, data, formats, navigation, queries, spans, tabular, ui
from glassline.dashboard.markdown import literal
from glassline.pricing import format_usd

ctx = ui.context()
window = ctx.window
params = st.query_params
st.title("Sessions & users")

users = data.run(queries.user_spend, window, 50)
if users.empty:
    ui.show_no_data("No requests with a user in this time range.")
    st.stop()

st.subheader("Users")
top = tuple(users["user_id"].head(8))
series = data.run(queries.user_series, window, top)
markers = data.run(queries.change_markers, window)
left, right = st.columns(2)
for col, measure, title in (
    (left, "cost_usd", "Spend per user (USD), top 8"),
    (right, "requests", "Requests per user, top 8"),
):
    fig = charts.series_by(
        series.rename(columns={measure: "y"}),
        "y",
        "user_id",
        title,
        stacked=True,
        step_s=window.bucket,
        markers=markers,
        partial=window.partial_buckets(),
    )
    point = navigation.clickable(
        charts.in_usd(fig) if measure == "cost_usd" else fig, f"gl_user_{measure}", col
    )
    if point:  # that user's requests in that bucket
        navigation.open_traces(ctx, point, window.bucket, user=navigation.point_value(point))
picked_user = tabular.table(
    users,
    {
        "user_id": "User",
        "requests": tabular.count_column("Requests"),
        "input_tokens": tabular.count_column("Input tokens"),
        "output_tokens": tabular.count_column("Output tokens"),
        "cost_usd": tabular.usd_column("Spend"),
    },
    key="gl_users_table",
    csv_name="users.csv",
)
st.caption("Click a user to list their sessions below.")
chosen = picked_user.selection.rows if picked_user else []
if chosen:
    params["user"] = str(users.iloc[chosen[0]]["user_id"])
user = params.get("user", "")

st.subheader(f"Sessions of {literal(user)}" if user else "Sessions")
if user and st.button("All users' sessions"):
    del params["user"]
    st.rerun()
found = data.run(queries.sessions, window, user)
if found.empty:
    st.info("No session in this time range.")
    st.stop()
picked = tabular.table(
    found,
    {
        "session_id": "Session",
        "tenant": "Tenant",
        "user_id": "User",
        "turns": tabular.count_column("Turns"),
        "failed_turns": tabular.count_column("Failed turns"),
        "first_start": tabular.utc_column("Started (UTC)"),
        "last_end": tabular.utc_column("Last activity (UTC)"),
        "duration_ms": st.column_config.NumberColumn("Time in requests", format="%.0f ms"),
        "cost_usd": tabular.usd_column("Spend"),
        "input_tokens": tabular.count_column("Input tokens"),
        "output_tokens": tabular.count_column("Output tokens"),
    },
    key="gl_sessions_table",
    csv_name="sessions.csv",
)  # fmt: skip
st.caption("Click a session to see its turns in order. Sessions come from stored traces.")
rows = picked.selection.rows if picked else []
if rows:
    params["session"] = str(found.iloc[rows[0]]["session_id"])
    params["session_tenant"] = str(found.iloc[rows[0]]["tenant"])
session, tenant = params.get("session", ""), params.get("session_tenant", "")
if not (session and tenant):
    st.stop()

st.subheader(f"Session {literal(session)}")
turns = data.run(queries.session_turns, window, tenant, session)
c = st.columns(4)
c[0].metric("Turns", formats.fmt_int(len(turns)), border=True)
c[1].metric("Spend", format_usd(float(turns["cost_usd"].sum())), border=True)
c[2].metric("Time in requests", formats.fmt_ms(float(turns["duration_ms"].sum())), border=True)
c[3].metric("Failed turns", formats.fmt_int(int((turns["error_count"] > 0).sum())), border=True)
turns["open"] = [
    navigation.trace_url(ctx, t, n) for t, n in zip(turns["trace_id"], turns["tenant"], strict=True)
]
turns["root_name"] = spans.request_names(turns["root_name"])
opened = tabular.table(
    turns[["open", "turn", "start", "root_name", "duration_ms", "cost_usd", "input_tokens",
           "output_tokens", "error_count"]],
    {
        "open": st.column_config.LinkColumn("Trace", display_text="open"),
        "turn": tabular.count_column("Turn"),
        "start": tabular.utc_column("Start (UTC)"),
        "root_name": "Request",
        "duration_ms": st.column_config.NumberColumn("Latency", format="%.1f ms"),
        "cost_usd": tabular.usd_column("Cost"),
        "input_tokens": tabular.count_column("Input tokens"),
        "output_tokens": tabular.count_column("Output tokens"),
        "error_count": tabular.count_column("Failed spans"),
    },
    key="gl_turns_table",
    csv_name=f"session-{session}.csv",
)  # fmt: skip
bar = navigation.clickable(
    charts.in_usd(charts.bar(turns, "turn", "cost_usd", "Cost per turn (USD)", categorical=True)),
    "gl_turn_bar",
)
turn = opened.selection.rows if opened else []
labels = [str(t) for t in turns["turn"]]
if bar and str(bar["x"]) in labels:  # a turn's bar opens it, like its row
    turn = [labels.index(str(bar["x"]))]
if turn:
    row = turns.iloc[turn[0]]
    st.switch_page("views/trace.py", query_params=ctx.nav_params(trace=row["trace_id"]))
