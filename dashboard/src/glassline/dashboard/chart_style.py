"""What every chart shares: its layout, and the app's text escaped for Plotly."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

__all__ = ["LAYOUT", "plain", "styled"]

LAYOUT: dict[str, Any] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320}


def plain(text: object) -> str:
    """``text`` as Plotly draws it, not as its markup: Plotly reads ``<a href>``, ``<span
    style>``, ``<br>`` and entities in legend names, tick labels, hover texts and annotations.
    A stage, a model or a user id is the app's text: escaped, it reads as sent, where it drew a
    foreign link or 60-pixel letters in the chart."""
    return html.escape(str(text), quote=False)


def styled(fig: go.Figure, title: str) -> go.Figure:
    """``fig`` titled, in the layout every chart shares."""
    fig.update_layout(title=title, legend_title_text="", **LAYOUT)
    return fig
