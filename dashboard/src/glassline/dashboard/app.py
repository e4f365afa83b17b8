"""The Streamlit entry point: ``streamlit run app.py`` (``glassline-dashboard`` does it for you)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from glassline.dashboard import auth, ui

# Not "pages/": Streamlit would also serve that folder's scripts on their own (legacy
# multipage mode) when a deep link like /traces is the first request, bypassing this file.
PAGES = Path(__file__).parent / "views"

st.set_page_config(page_title="Glassline", page_icon=":material/visibility:", layout="wide")

st.logo(str(Path(__file__).with_name("logo.svg")), size="large")
if not auth.gate():
    st.stop()

navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES / "changes.py", title="What changed", icon=":material/compare_arrows:"),
        st.Page(PAGES / "latency.py", title="Latency", icon=":material/speed:"),
        st.Page(PAGES / "spend.py", title="Spend", icon=":material/payments:"),
        st.Page(PAGES / "quality.py", title="Quality", icon=":material/grading:"),
        st.Page(PAGES / "traces.py", title="Traces", icon=":material/list:"),
        st.Page(PAGES / "people.py", title="Sessions & users", icon=":material/group:"),
        st.Page(PAGES / "trace.py", title="Trace drilldown", icon=":material/account_tree:"),
        st.Page(PAGES / "alerts.py", title="Alerts & Sampling", icon=":material/notifications:"),
    ]
)
ui.read_links_as_stored()
ctx = ui.setup()
if ctx is None:
    st.stop()
st.session_state["gl_ctx"] = ctx
navigation.run()
