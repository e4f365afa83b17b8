"""What every page shares: the sidebar controls, the URL state and the guards.

Numbers read as :mod:`formats` writes them, tables are drawn by :mod:`tabular`, and links and
clicks open other pages through :mod:`navigation`.

Time range, tenant and auto-refresh live in the URL (``?range=24h&tenant=acme``) so any view
can be shared. Streamlit clears query parameters when the user switches pages, so the values
are also kept in session state and written back to the URL on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import streamlit as st

from glassline.collector.jsonsafe import safe_str
from glassline.dashboard import data, queries
from glassline.dashboard.db import DatabaseUnavailable, db_url_from_env
from glassline.dashboard.window import (
    CUSTOM,
    DEFAULT_RANGE,
    RANGES,
    Window,
    url_seconds,
    window_from_params,
)

__all__ = ["Context", "context", "open_page", "setup", "show_no_data"]

REFRESH_S = 30
_BOUND = ("tenant", "version", "prompt")  # URL parameters bound to the sidebar's selectors
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
        params = {"range": self.preset} if self.preset != CUSTOM else {}
        if self.window.tenant:
            params["tenant"] = self.window.tenant
        if self.window.service_version:
            params["version"] = self.window.service_version
        if self.window.prompt_version:
            params["prompt"] = self.window.prompt_version
        return {**params, **_pins(), **extra}

    def nav_params(self, **extra: str) -> dict[str, str]:
        """Parameters for ``st.switch_page`` / ``st.page_link``: ``extra`` and a pinned window.

        Range and tenant are bound to their widgets, which keep them across pages; Streamlit
        refuses to set bound parameters directly.
        """
        return {**_pins(), **extra}


_PINS = ("start", "end")


def _pins() -> dict[str, str]:
    return {k: str(st.session_state[f"gl_{k}"]) for k in _PINS if st.session_state.get(f"gl_{k}")}


def _pinned() -> dict[str, str]:
    """The ``start``/``end`` URL parameters (a pinned or custom window), kept across pages.

    The range, tenant and refresh widgets are bound to the URL by Streamlit itself; these have
    no widget, and Streamlit drops unbound parameters when the user switches pages.
    """
    for key in _PINS:
        value = st.query_params.get(key, "")
        if url_seconds(value) is not None:
            st.session_state[f"gl_{key}"] = value
        elif st.session_state.get(f"gl_{key}"):
            st.query_params[key] = st.session_state[f"gl_{key}"]
    return _pins()


def _clear_pins(keys: tuple[str, ...] = _PINS) -> None:
    """Forget a custom start (a preset was picked) or the whole pin (back to live data)."""
    for key in keys:
        st.session_state.pop(f"gl_{key}", None)
        if key in st.query_params:
            del st.query_params[key]


def _custom_range(window: Window) -> None:
    """A sidebar form for any ``[start, end)`` in UTC; it sets the URL's ``start`` and ``end``."""
    with st.sidebar.expander("Custom range (UTC)"):
        start = st.datetime_input(
            "From", datetime.fromtimestamp(window.start, UTC).replace(tzinfo=None)
        )
        end = st.datetime_input("To", datetime.fromtimestamp(window.end, UTC).replace(tzinfo=None))
        if st.button("Apply", key="gl_apply_range"):
            lo, hi = (int(d.replace(tzinfo=UTC).timestamp()) for d in (start, end))
            if lo < hi:
                st.session_state["gl_start"], st.session_state["gl_end"] = str(lo), str(hi)
                st.query_params["start"], st.query_params["end"] = str(lo), str(hi)
                st.rerun()
            st.error("The end must be after the start.")


def read_links_as_stored() -> None:
    """The URL's parameters as the stores keep text: a NUL becomes U+FFFD, as at ingest.

    PostgreSQL keeps a NUL in no text, so a link holding one (``?tenant=a%00b``) failed every
    query of the page there; replaced the way ingest replaced it, it finds what was sent so.
    """
    held = [key for key in st.query_params if "\x00" in st.query_params[key]]
    for key in held:
        st.query_params[key] = safe_str(st.query_params[key])
    if held:
        st.rerun()  # the widgets bound to the URL read it as it was when the run began


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
    pins = _pinned()
    preset = st.sidebar.selectbox(
        "Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE), key="range",
        bind="query-params", on_change=_clear_pins, args=(("start",),),
    )  # fmt: skip
    probe, _ = window_from_params({"range": preset, **pins})
    for bound in _BOUND:  # set by open_page(), before the widgets exist
        if f"gl_next_{bound}" in st.session_state:
            st.session_state[bound] = st.session_state.pop(f"gl_next_{bound}")
    tenants = ["", *data.run(queries.tenants, probe)]
    wanted = st.query_params.get("tenant") or st.session_state.get("tenant") or ""
    if wanted not in tenants:
        tenants.append(wanted)  # a shared link to a tenant without data in this window
    tenant = st.sidebar.selectbox(
        "Tenant", tenants, format_func=lambda t: t or ALL_TENANTS, key="tenant",
        bind="query-params",
    )  # fmt: skip
    found = data.run(queries.versions, probe.with_tenant(tenant))
    version = _version_box("Service version", found["service_version"], "version")
    prompt = _version_box("Prompt version", found["prompt_version"], "prompt")
    window, used = window_from_params(
        {"range": preset, **pins, "tenant": tenant or "", "version": version, "prompt": prompt}
    )
    if used == CUSTOM:
        st.sidebar.caption(f"Custom range: {_utc(window.start)} to {_utc(window.end)}")
    elif pins.get("end"):
        st.sidebar.caption(f"Pinned to {_utc(window.end)}")
    if pins and st.sidebar.button("Back to the latest data", key="gl_unpin"):
        _clear_pins()
        st.rerun()
    _custom_range(window)
    _auto_refresh()
    return Context(window=window, preset=used)


def _version_box(label: str, values: list[str], key: str) -> str:
    """A sidebar filter on one version dimension, bound to the URL parameter ``key``."""
    options = ["", *values]
    wanted = st.query_params.get(key) or st.session_state.get(key) or ""
    if wanted not in options:
        options.append(wanted)  # a shared link to a version without data in this window
    chosen = st.sidebar.selectbox(
        label, options, format_func=lambda v: v or "All", key=key, bind="query-params"
    )
    return str(chosen or "")


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


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


def open_page(page: str, ctx: Context, **params: str) -> None:
    """Switch to ``page`` with ``params``; a ``tenant``, ``version`` or ``prompt`` goes through
    the sidebar's selector, because Streamlit refuses to set a widget-bound URL parameter."""
    for bound in _BOUND:
        if bound in params:
            st.session_state[f"gl_next_{bound}"] = params.pop(bound)
    st.switch_page(page, query_params=ctx.nav_params(**params))


def context() -> Context:
    """The context ``app.py`` prepared for the current page."""
    ctx: Context = st.session_state["gl_ctx"]
    return ctx


def show_no_data(reason: str = "No data in this time range yet.") -> None:
    st.info(f"{reason} Send some traces from your app with `glassline-instrumentation`:")
    st.code(SEND_DATA_SNIPPET, language="python")
    st.caption("Then widen the time range or pick another tenant in the sidebar.")
