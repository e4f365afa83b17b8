"""Plotly figure builders: data in, figure out, no Streamlit and no database."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = [
    "bar",
    "line",
    "percentile_lines",
    "stacked_bars",
    "trace_scatter",
    "waterfall",
]

_LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320}
_COLORS = {"ok": "#2e7d32", "unset": "#607d8b", "error": "#c62828"}


def _style(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, legend_title_text="", **_LAYOUT)
    return fig


def line(
    frame: pd.DataFrame, y: str, title: str, color: str | None = None, **labels: str
) -> go.Figure:
    """A time series; ``frame`` has a ``time`` column."""
    fig = px.line(frame, x="time", y=y, color=color, markers=len(frame) < 40, labels=labels)
    return _style(fig, title)


def percentile_lines(frame: pd.DataFrame, by: str, title: str) -> go.Figure:
    """p50/p95/p99 over time per value of ``by``: solid p50, dashed p95, dotted p99."""
    long = frame.melt(
        id_vars=["time", by], value_vars=["p50", "p95", "p99"], var_name="q", value_name="ms"
    )
    fig = px.line(
        long, x="time", y="ms", color=by, line_dash="q", labels={"ms": "latency (ms)", "q": ""}
    )
    return _style(fig, title)


def bar(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    horizontal: bool = False,
    categorical: bool = False,
) -> go.Figure:
    """Bars of ``y`` per ``x``; horizontal bars are sorted largest on top."""
    if horizontal:
        fig = px.bar(frame, x=y, y=x, orientation="h")
        fig.update_yaxes(categoryorder="total ascending", type="category")
    else:
        fig = px.bar(frame, x=x, y=y)
        if categorical:  # e.g. days as labels, not a time axis with one fat bar
            fig.update_xaxes(type="category")
    return _style(fig, title)


def stacked_bars(frame: pd.DataFrame, x: str, y: str, color: str, title: str) -> go.Figure:
    fig = px.bar(frame, x=x, y=y, color=color)
    fig.update_layout(barmode="stack")
    return _style(fig, title)


def trace_scatter(frame: pd.DataFrame, title: str) -> go.Figure:
    """Traces as points (start time x duration), coloured by status; ``customdata`` is the id.

    Selecting a point is how a chart links to its trace (the page reads the selection).
    """
    fig = go.Figure()
    for status, group in frame.groupby("status"):
        fig.add_trace(
            go.Scatter(
                x=group["start"],
                y=group["duration_ms"],
                mode="markers",
                name=str(status),
                marker={"color": _COLORS.get(str(status), "#1565c0"), "size": 8},
                customdata=group[["trace_id", "tenant"]].to_numpy(),
                hovertemplate="%{text}<br>%{y:.0f} ms<extra></extra>",
                text=group["root_name"],
            )
        )
    fig.update_yaxes(title_text="duration (ms)")
    return _style(fig, title)


def waterfall(spans: pd.DataFrame) -> go.Figure:
    """A Gantt of one trace: one bar per span from its offset, indented by depth.

    ``spans`` has ``label`` (indented name), ``offset_ms``, ``duration_ms``, ``status`` and
    ``span_id`` columns, already in display order.
    """
    fig = go.Figure(
        go.Bar(
            y=spans["label"],
            x=spans["duration_ms"].clip(lower=0.5),  # zero-length spans stay visible
            base=spans["offset_ms"],
            orientation="h",
            marker_color=[_COLORS.get(s, "#1565c0") for s in spans["status"]],
            text=[f"{d:,.1f} ms" for d in spans["duration_ms"]],
            textposition="auto",
            customdata=spans[["span_id"]].to_numpy(),
            hovertemplate="%{y}<br>start +%{base:.1f} ms, %{x:.1f} ms<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", tickfont={"family": "monospace"})
    fig.update_xaxes(title_text="ms since trace start")
    fig.update_layout(**{**_LAYOUT, "height": max(220, 28 * len(spans) + 80)}, title="Waterfall")
    return fig
