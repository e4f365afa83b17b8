"""What every page shares: the sidebar controls, the URL state, guards and formatting.

Time range, tenant and auto-refresh live in the URL (``?range=24h&tenant=acme``) so any view
can be shared. Streamlit clears query parameters when the user switches pages, so the values
are also kept in session state and written back to the URL on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.collector.jsonsafe import safe_str
from glassline.dashboard import data, queries, spreadsheet
from glassline.dashboard.db import DatabaseUnavailable, db_url_from_env
from glassline.dashboard.window import (
    CUSTOM,
    DEFAULT_RANGE,
    RANGES,
    Window,
    url_seconds,
    window_from_params,
)
from glassline.pricing import format_usd

__all__ = [
    "Context",
    "context",
    "count_column",
    "fmt_delta",
    "fmt_int",
    "fmt_ms",
    "fmt_num",
    "fmt_pct",
    "fmt_status",
    "measure_column",
    "open_page",
    "setup",
    "show_no_data",
    "table",
    "tile",
    "trace_url",
    "usd_column",
    "utc_column",
]

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


def clickable(fig: Any, key: str, where: DeltaGenerator | None = None) -> dict[str, Any] | None:
    """Draw ``fig``; returns the point (or bar) the user clicked, else ``None``."""
    state = (where or st).plotly_chart(fig, on_select="rerun", selection_mode="points", key=key)
    points = state.selection.points if state and state.selection else []
    return dict(points[0]) if points else None


def bucket_range(x: Any, step_s: int) -> dict[str, str]:
    """The ``start``/``end`` URL parameters of the chart bucket at ``x`` (a time or a day)."""
    moment = pd.Timestamp(x)
    start = int((moment.tz_convert("UTC") if moment.tzinfo else moment).timestamp())
    return {"start": str(start), "end": str(start + step_s)}


def open_traces(ctx: Context, point: dict[str, Any] | None = None, step_s: int = 0, /,
                **params: str) -> None:  # fmt: skip
    """Open the Traces page filtered by ``params`` and, with ``step_s``, to the bucket of the
    clicked ``point`` ("(none)" means the dimension was empty: no filter)."""
    found = {k: "" if v == "(none)" else v for k, v in params.items()}
    if point is not None and step_s:
        found.update(bucket_range(point["x"], step_s))
    open_page("views/traces.py", ctx, **found)


_ALERT_FILTERS = {"stage": "stage", "model": "model", "route": "route", "user": "user"}


def alert_traces(ctx: Context, row: pd.Series, at: Any = None) -> None:
    """Open the traces an alert row is about: its tenant, and the stage, model, route or user
    of its key (``stage=generate,model=gpt-4o``); with ``at``, the hour before that moment."""
    params = {"tenant": str(row["tenant"])} if row.get("tenant") else {}
    for part in str(row.get("key") or "").split(","):
        name, _, value = part.partition("=")
        if name in _ALERT_FILTERS and value:
            params[_ALERT_FILTERS[name]] = value
    if at is not None and not pd.isna(at):
        end = int(pd.Timestamp(at).timestamp()) + 60
        params.update(start=str(end - 3600), end=str(end))
    open_traces(ctx, **params)


def point_value(point: dict[str, Any]) -> str:
    """The series value (stage, model ...) a chart stored in a point's ``customdata``."""
    data = point.get("customdata")
    return str(data[0]) if isinstance(data, list | tuple) and data else ""


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


def fmt_num(value: float | None) -> str:
    """A count or a mean: whole numbers without decimals, others with one."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


# A number column of dollars: table() draws each amount as format_usd reads it (Streamlit's
# printf formats cannot: "$%.6f" read $1234.500000 and $0.538600). Not a Streamlit format.
_USD = "usd"
# Table column formats per kind of measure (Streamlit's printf-style number formats, or _USD).
_MEASURE_FORMATS = {"spend": _USD, "p95": "%.1f ms", "error_rate": "percent",
                    "cache_hit_rate": "percent", "tokens_per_request": "%.1f",
                    "requests": "%.0f"}  # fmt: skip


def measure_column(label: str, metric: str) -> Any:
    """A number column formatted for ``metric`` (see ``queries.CHANGE_METRICS``)."""
    return st.column_config.NumberColumn(label, format=_MEASURE_FORMATS.get(metric, "%.2f"))


def count_column(label: str) -> Any:
    """A whole-number column (spans, requests, tokens, turns)."""
    return st.column_config.NumberColumn(label, format="%d")


def usd_column(label: str) -> Any:
    """A spend column for :func:`table`: each amount reads as ``format_usd`` says ($0.0000447,
    $1,234.50), and the column sorts by the number."""
    return st.column_config.NumberColumn(label, format=_USD)


_UTC_MOMENT, _UTC_STRFTIME = "YYYY-MM-DD HH:mm:ss", "%Y-%m-%d %H:%M:%S"  # one format, two syntaxes


def utc_column(label: str) -> Any:
    """A moment to the second; ``label`` says UTC."""
    return st.column_config.DatetimeColumn(label, format=_UTC_MOMENT)


# The rows a table draws: What changed by user, in an app of 100,000 users a day, failed
# outright (a Styler takes at most 262,144 cells), and a grid of that many rows helps no one.
MAX_TABLE_ROWS = 1_000


def table(
    frame: pd.DataFrame,
    columns: dict[str, Any],
    *,
    key: str,
    csv_name: str,
    where: DeltaGenerator | None = None,
    csv_frame: pd.DataFrame | None = None,
) -> Any:
    """A selectable table (a click on a row is returned) of ``frame``'s first
    ``MAX_TABLE_ROWS`` rows, with a CSV download of all its rows (``csv_frame``'s, when the
    table shows numbers as text: the CSV keeps them raw)."""
    where = where or st.container()
    shown, config = _with_missing_shown(frame.head(MAX_TABLE_ROWS), columns)
    styled, config = _dollars_shown(shown, config)
    picked = where.dataframe(
        styled,
        hide_index=True,
        column_config=config,
        on_select="rerun",
        selection_mode="single-row",
        key=key,
    )
    if len(frame) > MAX_TABLE_ROWS:
        where.caption(f"The first {MAX_TABLE_ROWS:,} of {len(frame):,} rows; the CSV has them all.")
    raw = frame if csv_frame is None else csv_frame
    csv = spreadsheet.to_csv(raw.rename(columns={k: _label(k, v) for k, v in columns.items()}))
    where.download_button("Download CSV", csv, csv_name, "text/csv", key=f"{key}_csv")
    return picked


MISSING = "\u2013"  # an en dash


def _dollars_shown(frame: pd.DataFrame, columns: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The frame with its ``usd_column`` columns reading as ``format_usd`` says. Streamlit shows
    a Styler's text in a number column that has no format of its own, and sorts by the number."""
    usd = [name for name in frame.columns if _number_format(columns.get(name)) == _USD]
    if not usd:
        return frame, columns
    config = dict(columns)
    for name in usd:
        spec = columns[name]
        config[name] = {**spec, "type_config": {**spec["type_config"], "format": None}}
    return frame.style.format(format_usd, subset=usd), config


def _number_format(spec: Any) -> str | None:
    """A number column's format (``%g`` when it names none); None for any other column."""
    typed = (spec.get("type_config") or {}) if isinstance(spec, dict) else {}
    return (typed.get("format") or "%g") if typed.get("type") == "number" else None


def _with_missing_shown(
    frame: pd.DataFrame, columns: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame as a table shows it: a missing value reads MISSING, not Streamlit's "None"
    (a stage new in this period has no previous p95). A number column with a gap becomes text
    in its own printf format; the CSV keeps the raw values."""
    shown, config = frame.copy(), dict(columns)
    for name in frame.columns:
        missing = frame[name].isna()
        if not missing.any():
            continue
        spec: Any = columns.get(name)  # a column_config dict where fmt is set
        fmt = _number_format(spec)
        if fmt is not None:
            if "%" not in fmt and fmt != _USD:  # a named format ("percent") renders itself
                continue
            text = format_usd if fmt == _USD else fmt.__mod__
            shown[name] = [
                MISSING if gap else text(v) for v, gap in zip(frame[name], missing, strict=True)
            ]
            config[name] = st.column_config.TextColumn(
                _label(name, spec), help=spec.get("help"), alignment="right"
            )
        elif pd.api.types.is_datetime64_any_dtype(frame[name]):  # e.g. an unresolved alert
            shown[name] = [
                MISSING if gap else v.strftime(_UTC_STRFTIME)
                for v, gap in zip(frame[name], missing, strict=True)
            ]
            config[name] = st.column_config.TextColumn(_label(name, spec))
        elif frame[name].dtype == object:
            shown[name] = frame[name].where(~missing, MISSING)
    return shown, config


def _label(name: str, config: Any) -> str:
    if isinstance(config, str):
        return config
    found = config.get("label") if isinstance(config, dict) else None
    return str(found or name)


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
    *,
    help: str | None = None,
) -> None:
    """A metric with its change versus the previous period (red when it got worse)."""
    col.metric(
        label,
        fmt(now),
        fmt_delta(now, before),
        delta_color="inverse" if up_is_bad else "normal",
        border=True,
        help=help,
    )


def fmt_delta(now: float | None, before: float | None) -> str | None:
    """Change versus the previous period as a percentage, or ``None`` when undefined."""
    if now is None or before is None:
        return None
    if before == 0:
        return "new" if now else None
    return f"{(now - before) / before:+.0%}"
