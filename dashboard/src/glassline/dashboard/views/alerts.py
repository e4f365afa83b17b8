"""Alerts & Sampling: alert instances with their state and history; traces kept per policy.

The alert and sampling tables come with optional collector components; without them the page
says how to turn them on instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.collector.alerts.models import FIRING, PENDING
from glassline.dashboard import alert_table, data, navigation, queries, tabular, ui

ctx = ui.context()
window = ctx.window


st.title("Alerts & Sampling")
tables = data.run(queries.find_tables)

st.header("Alerts")
if not tables.alerts:
    st.info(
        "No alert tables in this store yet. Alerting runs in the collector: give it a rule "
        "file (budgets, latency, error rate, spikes) and the rules' states and history "
        "appear here."
    )
else:
    # A per-user budget keeps a state for each user that went over it: the counts come from
    # SQL and the table holds the most pressing (100,000 states took 4.6 s of every view).
    states = data.run(queries.alert_states, window.tenant, limit=tabular.MAX_TABLE_ROWS)
    counts = data.run(queries.alert_counts, window.tenant)
    c: Sequence[DeltaGenerator] = st.columns(3)
    c[0].metric("Firing now", counts.get(FIRING, 0), border=True)
    c[1].metric("Pending", counts.get(PENDING, 0), border=True)
    c[2].metric("Rules with state", counts["rules"], border=True)
    st.subheader("Rules and their current state")
    total = sum(n for state, n in counts.items() if state != "rules")
    if states.empty:
        # Only a rule that went pending has a state row: an empty table is also what a rule
        # file whose rules all hold looks like (the demo's, for its first minutes).
        st.caption(
            "No alert has been pending or firing yet. Each rule of the collector's alert rule "
            "file gets a row here once it leaves its inactive state; budgets' spend so far is "
            "on the Overview page."
        )
    else:
        if total > len(states):
            st.caption(f"The {len(states):,} most pressing of {total:,} alert instances: firing, "
                       "pending, then the latest changes; the CSV has these.")  # fmt: skip
        picked = tabular.table(
            alert_table.in_units(states), alert_table.COLUMNS, key="gl_alert_states",
            csv_name="alert-states.csv", csv_frame=states,
        )  # fmt: skip
        if picked and picked.selection.rows:  # a rule's traces in this range
            navigation.alert_traces(ctx, states.iloc[picked.selection.rows[0]])
    st.subheader("History in this time range")
    history = data.run(queries.alert_history, window)
    if history.empty:
        st.caption("No state changes in this time range.")
    else:
        picked = tabular.table(
            alert_table.in_units(history), alert_table.COLUMNS, key="gl_alert_history",
            csv_name="alert-history.csv", csv_frame=history,
        )  # fmt: skip
        if picked and picked.selection.rows:  # the traces of the hour before the change
            row = history.iloc[picked.selection.rows[0]]
            navigation.alert_traces(ctx, row, row["at"])

st.header("Sampling")
summary = data.run(queries.sampling_summary, window)
if not tables.sampling or summary.empty:
    st.info(
        "No sampling decisions in this time range: the collector keeps every trace unless head "
        "or tail sampling is configured. Totals on the other pages come from the pre-sampling "
        "rollups either way."
    )
else:
    summary["policy"] = summary["policy"].replace("", "(dropped, no policy matched)")
    c = st.columns(2)
    c[0].metric("Traces kept", f"{int(summary['kept'].sum()):,}", border=True)
    c[1].metric("Traces dropped", f"{int(summary['dropped'].sum()):,}", border=True)
    picked = tabular.table(
        summary,
        {"policy": "Policy", "kept": "Kept", "dropped": "Dropped"},
        key="gl_sampling",
        csv_name="sampling.csv",
    )
    if picked and picked.selection.rows:  # kept traces are the ones stored: list them
        navigation.open_traces(ctx)
