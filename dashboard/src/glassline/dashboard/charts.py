"""Plotly figure builders: data in, figure out, no Streamlit and no database.

The charts of traces are in :mod:`trace_charts`; what every chart shares in :mod:`chart_style`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from glassline.dashboard.chart_style import plain, styled
from glassline.pricing import format_usd

__all__ = [
    "bar",
    "contributions",
    "in_usd",
    "line",
    "percentile_lines",
    "series_by",
    "stacked_bars",
    "with_gaps",
    "with_markers",
]

_PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#8d6e63", "#546e7a")


def in_usd(fig: go.Figure) -> go.Figure:
    """``fig``'s values as dollars: a hover reads as ``format_usd`` says (Plotly's own read
    "0.0764063"), and the value axis in plain dollars ("$0.02"), without SI suffixes."""
    horizontal = any(getattr(t, "orientation", None) == "h" for t in fig.data)
    for trace in fig.data:  # a horizontal bar's value is its x
        values = trace.x if horizontal else trace.y
        trace.hovertext = [format_usd(None if pd.isna(v) else float(v)) for v in values]
        trace.hovertemplate = "%{y}: %{hovertext}" if horizontal else "%{x}: %{hovertext}"
    (fig.update_xaxes if horizontal else fig.update_yaxes)(tickprefix="$", exponentformat="none")
    return fig


def _traces_by(frame: pd.DataFrame, color: str | None) -> list[tuple[str, pd.DataFrame]]:
    if color is None:
        return [("", frame)]
    return [(str(name), part) for name, part in frame.groupby(color, sort=True)]


def with_gaps(part: pd.DataFrame, step_s: int | None) -> pd.DataFrame:
    """``part`` with an empty row after every bucket followed by a missing one, so a line
    breaks over a period without data instead of being drawn straight across it."""
    if step_s is None or len(part) < 2:
        return part
    part = part.sort_values("time")
    gap = part["time"].diff().shift(-1) > pd.Timedelta(seconds=step_s)
    holes = pd.DataFrame({"time": part.loc[gap, "time"] + pd.Timedelta(seconds=step_s)})
    return pd.concat([part, holes], ignore_index=True).sort_values("time", ignore_index=True)


def _line_mode(frame: pd.DataFrame) -> str:
    """Markers while points are few: a line through one point draws nothing at all."""
    return "lines+markers" if len(frame) < 40 else "lines"


def _level_axis(fig: go.Figure, values: pd.Series) -> None:
    """A y axis for a line that never moves: from 0 to a quarter above its value.

    Left to itself, plotly centres an axis on one value alone, ±1 around it: the first bucket
    of a new install drew a cost per request of $0.00004 at "0" on an axis from -1 to 1, a pass
    rate of 0 half-way down to -1, 842 requests between 841 and 843.
    """
    found = pd.to_numeric(values, errors="coerce").dropna()
    if found.empty or found.nunique() > 1:
        return
    level = float(found.iloc[0])
    fig.update_yaxes(range=[0, 1] if level == 0 else sorted([0.0, level * 1.25]))


PARTIAL_NOTE = "lighter or dotted: a bucket the range holds only part of, or still in progress"


def _partial(times: pd.Series, partial: Collection[int]) -> list[bool]:
    """Per time (a bucket's start), whether ``partial`` (Unix seconds) names it."""
    if not partial:
        return [False] * len(times)
    return [int(pd.Timestamp(t).timestamp()) in partial for t in times]


def _note_partial(fig: go.Figure) -> None:
    fig.add_annotation(text=PARTIAL_NOTE, xref="paper", yref="paper", x=1, y=1, xanchor="right",
                       yanchor="bottom", showarrow=False, font={"size": 10, "color": "#78909c"})  # fmt: skip


def _bar_shading(times: pd.Series, partial: Collection[int]) -> dict[str, Any]:
    marks = _partial(times, partial)
    return {"marker_opacity": [0.4 if m else 1.0 for m in marks]} if any(marks) else {}


def _bucket_bar(step_s: int | None) -> dict[str, float]:
    """A time bar as wide as its bucket, from its start: left to itself, plotly sizes a lone
    bar by the gaps between bars, a millisecond on a date axis, which draws nothing."""
    return {} if step_s is None else {"width": step_s * 1000 * 0.9, "offset": 0}


def line(
    frame: pd.DataFrame,
    y: str,
    title: str,
    color: str | None = None,
    step_s: int | None = None,
    partial: Collection[int] = (),
) -> go.Figure:
    """A time series (one line per value of ``color``); ``frame`` has a ``time`` column.

    With ``step_s`` (the chart bucket) missing buckets are drawn as gaps. ``partial`` names
    buckets (Unix seconds) that hold a sum over part of the bucket: the line to them is dotted.
    """
    mode = _line_mode(frame)
    fig = go.Figure()
    dotted = False
    for i, (name, part) in enumerate(_traces_by(frame, color)):
        style = {"color": _PALETTE[i % len(_PALETTE)]}
        gapped = with_gaps(part, step_s)
        marks = _partial(gapped["time"], partial)
        # The first and last points may be partial; a lone point stays a plain marker.
        head = 1 if len(gapped) > 1 and marks[0] else 0
        tail = 1 if len(gapped) > 1 + head and marks[-1] else 0
        solid = gapped.iloc[head : len(gapped) - tail]
        fig.add_trace(
            go.Scatter(
                x=solid["time"],
                y=solid[y],
                mode=mode,
                name=plain(name or y),
                line=style,
                customdata=[[name]] * len(solid),
            )
        )
        for ends in ([0, 1] if head else [], [len(gapped) - 2, len(gapped) - 1] if tail else []):
            if ends:
                dotted = True
                fig.add_trace(go.Scatter(
                    x=gapped["time"].iloc[ends], y=gapped[y].iloc[ends], mode="lines+markers",
                    name=f"{plain(name or y)} (partial)", showlegend=False, customdata=[[name]] * 2,
                    line={**style, "dash": "dot"}, marker={"symbol": "circle-open"},
                ))  # fmt: skip
    fig.update_layout(showlegend=color is not None)
    fig.update_yaxes(title_text=y.replace("_", " "))
    _level_axis(fig, frame[y])
    if dotted:
        _note_partial(fig)
    return styled(fig, title)


def percentile_lines(
    frame: pd.DataFrame, by: str, title: str, step_s: int | None = None
) -> go.Figure:
    """p50/p95/p99 over time per value of ``by``: solid p50, dashed p95, dotted p99.

    Graph objects rather than plotly.express: express costs tens of ms per figure, and these
    pages draw several per run.
    """
    fig = go.Figure()
    palette = _PALETTE
    mode = _line_mode(frame)
    for i, (name, whole) in enumerate(_traces_by(frame, by)):
        part = with_gaps(whole, step_s)
        for q, dash in (("p50", "solid"), ("p95", "dash"), ("p99", "dot")):
            fig.add_trace(
                go.Scatter(
                    x=part["time"],
                    y=part[q],
                    mode=mode,
                    name=f"{plain(name)} {q}",
                    legendgroup=name,
                    customdata=[[name]] * len(part),  # the value a click filters traces by
                    line={"dash": dash, "color": palette[i % len(palette)]},
                )
            )
    fig.update_yaxes(title_text="latency (ms)")
    if len(frame):
        _level_axis(fig, pd.concat([frame[q] for q in ("p50", "p95", "p99")]))
    return styled(fig, title)


def bar(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    horizontal: bool = False,
    categorical: bool = False,
    partial: Collection[int] = (),
) -> go.Figure:
    """Bars of ``y`` per ``x``; horizontal bars are sorted largest on top, each with its ``x``
    value in ``customdata`` (what a click reads). ``partial`` names buckets (Unix seconds, of
    ``frame["time"]``) held only in part: drawn lighter."""
    if horizontal:
        ordered = frame.sort_values(y)
        values = ordered[x].astype(str)
        fig = go.Figure(go.Bar(x=ordered[y], y=values.map(plain), orientation="h",
                               customdata=[[v] for v in values]))  # fmt: skip
        fig.update_yaxes(type="category")
    else:
        shading = _bar_shading(frame["time"], partial) if partial else {}
        fig = go.Figure(go.Bar(x=frame[x], y=frame[y], **shading))
        if categorical:  # e.g. days as labels, not a time axis with one fat bar
            fig.update_xaxes(type="category")
        if shading:
            _note_partial(fig)
    fig.update_traces(marker_color=_PALETTE[0])
    return styled(fig, title)


def stacked_bars(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    title: str,
    step_s: int | None = None,
    partial: Collection[int] = (),
) -> go.Figure:
    """Bars of ``y`` per ``x`` stacked by ``color``; ``step_s``: ``x`` is a bucket's start;
    ``partial`` names buckets (Unix seconds) held only in part: drawn lighter."""
    fig = go.Figure(
        [
            go.Bar(
                x=part[x],
                y=part[y],
                name=plain(name),
                marker_color=_PALETTE[i % len(_PALETTE)],
                customdata=[[name]] * len(part),
                **_bucket_bar(step_s),
                **_bar_shading(part[x], partial),
            )
            for i, (name, part) in enumerate(_traces_by(frame, color))
        ]
    )
    fig.update_layout(barmode="stack")
    if any(_partial(frame[x], partial)):
        _note_partial(fig)
    fig.update_yaxes(title_text=y.replace("_", " "))
    return styled(fig, title)


def contributions(frame: pd.DataFrame, label: str, split: bool, title: str) -> go.Figure:
    """Horizontal bars of each value's contribution to a change, largest on top.

    With ``split`` the bar is stacked from its volume (or mix) part and its rate part. Each
    bar has its value in ``customdata`` (what a click reads).
    """
    ordered = frame.iloc[::-1]
    values = ordered[label].astype(str)
    names, custom = values.map(plain), [[v] for v in values]
    parts = (
        [("volume_or_mix", "volume / mix"), ("rate", "rate")] if split else [("change", "change")]
    )
    fig = go.Figure(
        [
            go.Bar(y=names, x=ordered[col], name=name, orientation="h",
                   marker_color=_PALETTE[i], customdata=custom)
            for i, (col, name) in enumerate(parts)
        ]
    )  # fmt: skip
    fig.update_layout(barmode="relative", showlegend=split)
    fig.update_yaxes(type="category")
    return styled(fig, title)


def series_by(
    frame: pd.DataFrame,
    y: str,
    by: str,
    title: str,
    *,
    stacked: bool,
    step_s: int,
    markers: pd.DataFrame | None = None,
    partial: Collection[int] = (),
) -> go.Figure:
    """``y`` over time per value of ``by``: stacked bars for sums, lines (with gaps) otherwise.

    ``markers`` (``at`` Unix seconds, ``label``) are drawn as dotted vertical lines; each point
    carries its value in ``customdata`` so a click can open its traces. ``partial`` names
    buckets (Unix seconds) held only in part: their stacked bars are drawn lighter.
    """
    fig = go.Figure()
    for i, (name, part) in enumerate(_traces_by(frame, by)):
        color = _PALETTE[i % len(_PALETTE)]
        shown = part if stacked else with_gaps(part, step_s)
        custom = [[name]] * len(shown)
        if stacked:
            fig.add_trace(
                go.Bar(
                    x=shown["time"],
                    y=shown[y],
                    name=plain(name) or "(none)",
                    marker_color=color,
                    customdata=custom,
                    **_bucket_bar(step_s),
                    **_bar_shading(shown["time"], partial),
                )
            )
        else:
            fig.add_trace(go.Scatter(x=shown["time"], y=shown[y], name=plain(name) or "(none)",
                                     mode="lines+markers", line={"color": color},
                                     customdata=custom))  # fmt: skip
    if stacked:
        fig.update_layout(barmode="stack")
        if any(_partial(frame["time"], partial)):
            _note_partial(fig)
    return with_markers(styled(fig, title), markers)


def with_markers(fig: go.Figure, markers: pd.DataFrame | None) -> go.Figure:
    """``fig`` (a time chart) with each change marker (``at`` Unix seconds, ``short`` label)
    as a dotted vertical line labelled along it: what every time chart of the dashboard shows.

    Markers closer than 1/20 of the chart's time span share one line, labelled with the first
    and how many more, every label in its hover text: a deploy fires several alerts within a
    minute, and their labels drawn side by side were an unreadable grey block.
    """
    if markers is None or markers.empty:
        return fig
    for cluster in _clusters(markers, _time_span_s(fig, markers) / 20):
        at = pd.Timestamp(cluster[0].at, unit="s", tz="UTC")
        more = f" +{len(cluster) - 1} more" if len(cluster) > 1 else ""
        fig.add_vline(x=at, line_dash="dot", line_color="#9e9e9e")
        labels = (plain(getattr(m, "label", m.short)) for m in cluster)
        fig.add_annotation(x=at, y=1, yref="paper", text=f"{plain(cluster[0].short)}{more}",
                           hovertext="<br>".join(labels), showarrow=False,
                           textangle=-90, xanchor="right", yanchor="top", font={"size": 10})  # fmt: skip
    return fig


def _time_span_s(fig: go.Figure, markers: pd.DataFrame) -> float:
    """Seconds between the first and last moment the chart draws, markers included."""
    stamps = [float(markers["at"].min()), float(markers["at"].max())]
    for trace in fig.data:
        if trace.x is not None and len(trace.x):
            drawn = pd.to_datetime(pd.Series(trace.x), utc=True)
            stamps += [drawn.min().timestamp(), drawn.max().timestamp()]
    return max(stamps) - min(stamps)


def _clusters(markers: pd.DataFrame, within_s: float) -> list[list[Any]]:
    """Markers (oldest first) grouped while each is within ``within_s`` of its group's first."""
    groups: list[list[Any]] = []
    for row in markers.sort_values("at", kind="stable").itertuples():
        if groups and row.at - groups[-1][0].at <= within_s:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
