"""A What-changed metric over time per dimension value, and the trace filters for one value.

Thin glue over the cached rollup queries (:mod:`glassline.dashboard.data`): sums are stacked
bars, ratios and percentiles are lines. The few largest contributors keep their own series,
the rest of an additive metric is summed as "other".
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from glassline.dashboard import data, queries
from glassline.dashboard.window import Window

__all__ = ["Trend", "metric_over_time", "traces_filter"]

OTHER = "other"
# The Traces page filter for each dimension (tenant is the sidebar's, in the URL).
_TRACE_FILTER = {"model": "model", "snapshot": "model", "stage": "stage", "route": "route",
                 "user": "user", "tenant": "tenant", "service_version": "version",
                 "prompt_version": "prompt", "api_key": "key"}  # fmt: skip
_SORT = {"spend": "costliest", "p95": "slowest"}


@dataclass(frozen=True, slots=True)
class Trend:
    frame: pd.DataFrame  # time, <by>, y
    stacked: bool


def traces_filter(by: str, value: str, metric: str) -> dict[str, str]:
    """URL parameters of the Traces page for the traces behind ``by = value``."""
    link = {_TRACE_FILTER[by]: value} if value and value != OTHER else {}
    if metric == "error_rate":
        link["status"] = "error"
    elif metric in _SORT:
        link["sort"] = _SORT[metric]
    return link


def metric_over_time(window: Window, metric: str, by: str, top: list[str]) -> Trend | None:
    """``metric`` per chart bucket and value of ``by`` (None for users: no per-user series)."""
    kind = queries.CHANGE_DIMENSIONS[by]
    if kind is None:
        return None
    if metric == "p95":
        view = data.run(queries.percentile_views, window, by, [kind])["latency_sketch"]
        frame = view.over_time.rename(columns={"p95": "y"})
        return Trend(frame[frame[by].isin(top)][["time", by, "y"]], stacked=False)
    m = queries.CHANGE_METRICS[metric]
    kinds = None if (m.all_kinds and metric != "requests") else [kind]
    sums = data.run(queries.sum_series, window, by, kinds)
    if not m.ratio:
        sums["y"] = sums["count"] if metric == "requests" else sums[m.numerator]
        sums[by] = sums[by].where(sums[by].isin(top), OTHER)
        grouped = sums.groupby(["time", by], as_index=False)["y"].sum()
        return Trend(grouped, stacked=True)
    numerator = (
        sums["input_tokens"] + sums["output_tokens"]
        if m.numerator == "tokens"
        else sums[m.numerator]
    )
    denominator = sums[m.denominator]
    if m.denominator == "count" and m.all_kinds:  # per unit of the dimension's own volume
        volume = data.run(queries.sum_series, window, by, [kind])
        denominator = sums[["bucket", by]].merge(volume, on=["bucket", by], how="left")["count"]
    sums["y"] = numerator / denominator.where(denominator > 0)
    return Trend(sums[sums[by].isin(top)][["time", by, "y"]], stacked=False)
