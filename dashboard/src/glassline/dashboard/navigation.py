"""Going from one page to another: shareable links, and the pages a click on a chart opens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard.ui import Context, open_page

__all__ = [
    "alert_traces",
    "bucket_range",
    "clickable",
    "open_traces",
    "point_value",
    "trace_url",
]


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


def trace_url(ctx: Context, trace_id: str, tenant: str) -> str:
    """A relative, shareable link to the trace drilldown page."""
    return "trace?" + urlencode(ctx.link_params(trace=trace_id, tenant=tenant))
