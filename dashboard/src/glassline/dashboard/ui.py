"""What every page shares: the sidebar controls, the URL state, guards and formatting.

Time range, tenant and auto-refresh live in the URL (``?range=24h&tenant=acme``) so any view
can be shared. Streamlit clears query parameters when the user switches pages, so the values
are also kept in session state and written back to the URL on every run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard import data, queries
from glassline.dashboard.db import DatabaseUnavailable, db_url_from_env
from glassline.dashboard.window import DEFAULT_RANGE, RANGES, Window, window_from_params

__all__ = [
    "Context",
    "context",
    "fmt_delta",
    "fmt_int",
    "fmt_ms",
    "fmt_pct",
    "fmt_status",
    "fmt_usd",
    "setup",
    "show_no_data",
    "tile",
    "trace_url",
]

REFRESH_S = 30
ALL_TENANTS = "All tenants"
SEND_DATA_SNIPPET = """\
from glassline.instrumentation import init, workflow
init(service_name="my-app", endpoint="http://localhost:4317", api_key="YOUR_KEY")
@workflow("answer_question")
def answer(question: str) -> str: ...
answer("hello")  # one trace; open this page again"""


@dataclass(frozen=True, slots=True)
class Context:
    window: Window
    preset: str

    def link_params(self, **extra: str) -> dict[str, str]:
        """The shared URL parameters plus ``extra``, for links to other pages."""
        params = {"range": self.preset}
        if self.window.tenant:
            params["tenant"] = self.window.tenant
        if st.session_state.get("gl_end"):
            params["end"] = str(st.session_state["gl_end"])
        return {**params, **extra}

    def nav_params(self, **extra: str) -> dict[str, str]:
        """Parameters for ``st.switch_page`` / ``st.page_link``: ``extra`` and a pinned ``end``.

        Range and tenant are bound to their widgets, which keep them across pages; Streamlit
        refuses to set bound parameters directly.
        """
        pinned = st.session_state.get("gl_end")
        return {**({"end": str(pinned)} if pinned else {}), **extra}


def _pinned_end() -> str:
    """The ``end`` URL parameter (a pinned window), remembered across page switches.

    The range, tenant and refresh widgets are bound to the URL by Streamlit itself; ``end`` has
    no widget, and Streamlit drops unbound parameters when the user switches pages.
    """
    end = st.query_params.get("end", "")
    if end.isdecimal():
        st.session_state["gl_end"] = end
    elif st.session_state.get("gl_end"):
        st.query_params["end"] = end = st.session_state["gl_end"]
    return end if end.isdecimal() else ""


def setup() -> Context | None:
    """Render the sidebar controls and check the store; ``None`` means the page must stop."""
    url = db_url_from_env()
    try:
        state = data.store_state(url)
    except DatabaseUnavailable as exc:
        st.error(f"**The dashboard cannot read its database.** {exc}")
        st.info("Check `--db` / `GLASSLINE_DB_URL` and that the collector's database is running.")
        return None
    if state == "empty":
        show_no_data("The store has no tables yet: start the collector once to create them.")
        return None
    end = _pinned_end()
    preset = st.sidebar.selectbox(
        "Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE), key="range",
        bind="query-params",
    )  # fmt: skip
    probe, _ = window_from_params({"range": preset, "end": end})
    tenants = ["", *data.run(queries.tenants, probe)]
    wanted = st.query_params.get("tenant") or st.session_state.get("tenant") or ""
    if wanted not in tenants:
        tenants.append(wanted)  # a shared link to a tenant without data in this window
    tenant = st.sidebar.selectbox(
        "Tenant", tenants, format_func=lambda t: t or ALL_TENANTS, key="tenant",
        bind="query-params",
    )  # fmt: skip
    window, _ = window_from_params({"range": preset, "end": end, "tenant": tenant or ""})
    if end:
        st.sidebar.caption(
            f"Pinned to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(window.end))}"
        )
    _auto_refresh()
    return Context(window=window, preset=preset)


def _auto_refresh() -> None:
    on = st.sidebar.toggle(f"Auto-refresh every {REFRESH_S} s", key="refresh", bind="query-params")
    if on:
        st.session_state["gl_last_full_run"] = time.monotonic()
        _refresher()


@st.fragment(run_every=REFRESH_S)
def _refresher() -> None:
    # The fragment also runs inside every full run; only its timer runs trigger a refresh.
    last = st.session_state.get("gl_last_full_run", 0.0)
    if time.monotonic() - last >= REFRESH_S - 1:
        st.rerun(scope="app")


def context() -> Context:
    """The context ``app.py`` prepared for the current page."""
    ctx: Context = st.session_state["gl_ctx"]
    return ctx


def show_no_data(reason: str = "No data in this time range yet.") -> None:
    st.info(f"{reason} Send some traces from your app with `glassline-instrumentation`:")
    st.code(SEND_DATA_SNIPPET, language="python")
    st.caption("Then widen the time range or pick another tenant in the sidebar.")


def trace_url(ctx: Context, trace_id: str, tenant: str) -> str:
    """A relative, shareable link to the trace drilldown page."""
    return "trace?" + urlencode(ctx.link_params(trace=trace_id, tenant=tenant))


def fmt_usd(value: float | None) -> str:
    """Dollars with cents from $1, else three significant digits ($0.0000447, never $0.0000)."""
    if value is None:
        return "n/a"
    if value == 0 or abs(value) >= 1:
        return f"${value:,.2f}"
    decimals = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"${value:,.{decimals}f}"


def fmt_ms(value: float | None) -> str:
    """Seconds from 1 s, whole ms from 10 ms, else two significant digits (0.35 ms)."""
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    if value >= 10 or value == 0:
        return f"{value:,.0f} ms"
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms"


def fmt_status(status: str | None) -> str:
    """A span's or request's status as a person reads it: OTel's ``unset`` means no error."""
    return "failed" if status == "error" else "ok"


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def tile(
    col: DeltaGenerator,
    label: str,
    now: float | None,
    before: float | None,
    fmt: Callable[[float | None], str] = fmt_int,
    up_is_bad: bool = False,
) -> None:
    """A metric with its change versus the previous period (red when it got worse)."""
    col.metric(
        label,
        fmt(now),
        fmt_delta(now, before),
        delta_color="inverse" if up_is_bad else "normal",
        border=True,
    )


def fmt_delta(now: float | None, before: float | None) -> str | None:
    """Change versus the previous period as a percentage, or ``None`` when undefined."""
    if now is None or before is None:
        return None
    if before == 0:
        return "new" if now else None
    return f"{(now - before) / before:+.0%}"
