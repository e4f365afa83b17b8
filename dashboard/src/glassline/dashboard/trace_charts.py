"""The charts of traces: traces as points in time, and one trace's spans as a waterfall."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from glassline.dashboard import formats
from glassline.dashboard.chart_style import LAYOUT, plain, styled

__all__ = ["trace_scatter", "waterfall"]

_COLORS = {"ok": "#2e7d32", "unset": "#607d8b", "error": "#c62828"}


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
                name="with a failed span" if status == "error" else "no failed span",
                marker={"color": _COLORS.get(str(status), "#1565c0"), "size": 8},
                customdata=group[["trace_id", "tenant"]].to_numpy(),
                hovertemplate="%{text}<br>%{y:.0f} ms<extra></extra>",
                text=group["root_name"].map(plain),
            )
        )
    fig.update_yaxes(title_text="duration (ms)")
    if len(frame) == 1:  # one point: a few minutes around it, not a sub-millisecond axis
        at = pd.Timestamp(frame["start"].iloc[0])
        fig.update_xaxes(range=[at - pd.Timedelta(minutes=5), at + pd.Timedelta(minutes=5)])
    return styled(fig, title)


def waterfall(spans: pd.DataFrame) -> go.Figure:
    """A Gantt of one trace: one bar per span from its offset, indented by depth.

    ``spans`` is :func:`glassline.dashboard.spans.waterfall_frame`: bars from ``bar_offset_ms``
    for ``bar_ms`` (spans too short to see get a minimum bar inside their parent), labelled and
    hovered with the real offset and duration. Each span has a row of its own: rows keyed by
    their labels merged spans whose labels matched (a name and 4 hex digits of the id: in a
    trace of 300 same-named calls, more likely than not), several bars on one row.
    """
    # Plotly right-aligns tick labels; padding them to one width (monospace) keeps the tree's
    # indents lined up on the left.
    width = int(spans["label"].str.len().max()) if len(spans) else 0
    labels = [plain(label.ljust(width, "\u00a0")) for label in spans["label"]]
    rows = list(range(len(spans)))
    durations = [formats.fmt_ms(d) for d in spans["duration_ms"]]
    hovered = spans[["span_id", "offset_ms"]].assign(d=durations, label=labels).to_numpy()
    fig = go.Figure(
        go.Bar(
            y=rows,
            x=spans["bar_ms"],
            base=spans["bar_offset_ms"],
            orientation="h",
            marker_color=[_COLORS.get(s, "#1565c0") for s in spans["status"]],
            text=durations,  # as the trace's tiles read them: a 4 µs lookup is not "0.00 ms"
            textposition="auto",
            customdata=hovered,
            hovertemplate=(
                "%{customdata[3]}<br>start +%{customdata[1]:.2f} ms, "
                "%{customdata[2]}<extra></extra>"
            ),
        )
    )
    fig.update_yaxes(autorange="reversed", tickfont={"family": "monospace"}, tickmode="array",
                     tickvals=rows, ticktext=labels)  # fmt: skip
    fig.update_xaxes(title_text="ms since trace start")
    fig.update_layout(**{**LAYOUT, "height": max(220, 28 * len(spans) + 80)}, title="Waterfall")
    return fig
