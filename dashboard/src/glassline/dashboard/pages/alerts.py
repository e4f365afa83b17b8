"""Alerts & Sampling: rules with their state and history; traces kept and dropped per policy.

The alert and sampling tables are created by optional collector components; without them the
page explains how to turn them on instead of failing.
"""

from __future__ import annotations

import streamlit as st

from glassline.dashboard import data, queries, ui

ctx = ui.context()
window = ctx.window
st.title("Alerts & Sampling")
tables = data.run(queries.find_tables)

st.header("Alerts")
if not tables.has_alerts:
    st.info(
        "No alert tables in this store yet. Alerting runs in the collector: give it a rule "
        "file (budgets, latency, error rate, spikes) and its rules, states and history "
        "appear here."
    )
else:
    firing = data.run(queries.firing_alerts, tables, window.tenant)
    st.metric("Firing now", len(firing), border=True)
    for title, name in (
        ("Current state", tables.alert_states),
        ("Rules", tables.alert_rules),
        ("History", tables.alert_history),
    ):
        if name:
            st.subheader(title)
            frame = data.run(queries.read_table, name, window)
            if frame.empty:
                st.caption("Nothing recorded yet.")
            else:
                st.dataframe(frame, hide_index=True)

st.header("Sampling")
if not tables.sampling:
    st.info(
        "No sampling tables in this store: the collector keeps every trace. Turn on head or "
        "tail sampling in its config to see traces kept and dropped per policy. Totals on the "
        "other pages come from pre-sampling rollups either way."
    )
for name in tables.sampling:
    summary = data.run(queries.sampling_summary, name, window.tenant)
    st.subheader(name)
    if summary is not None:
        pivot = summary.pivot_table(
            index="policy", columns="decision", values="traces", fill_value=0
        )
        st.dataframe(pivot)
    else:
        st.dataframe(data.run(queries.read_table, name, window), hide_index=True)
