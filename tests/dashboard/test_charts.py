"""Time charts draw what they are given, however little: the first minutes of a new install."""

from __future__ import annotations

import pandas as pd
import pytest

from glassline.dashboard import charts

FIRST_BUCKET = pd.Timestamp("2026-12-04 13:45", tz="UTC")
QUARTER_HOUR = 900


def test_a_lone_stacked_bucket_is_as_wide_as_the_bucket_from_its_start() -> None:
    frame = pd.DataFrame(
        {"time": [FIRST_BUCKET] * 2, "ms": [40.0, 12.0], "stage": ["generate", "retrieve"]}
    )
    fig = charts.stacked_bars(frame, "time", "ms", "stage", "breakdown", step_s=QUARTER_HOUR)
    # Left to plotly, one bar on a date axis is a millisecond wide: nothing to see.
    assert [(bar.width, bar.offset) for bar in fig.data] == [(810_000, 0), (810_000, 0)]


def test_series_by_sums_draws_buckets_as_wide_bars() -> None:
    frame = pd.DataFrame({"time": [FIRST_BUCKET], "cost_usd": [0.02], "tenant": ["acme"]})
    fig = charts.series_by(frame, "cost_usd", "tenant", "spend", stacked=True, step_s=QUARTER_HOUR)
    assert (fig.data[0].width, fig.data[0].offset) == (810_000, 0)


def test_one_point_per_percentile_line_is_drawn_as_a_marker() -> None:
    frame = pd.DataFrame(
        {
            "time": [FIRST_BUCKET],
            "stage": ["generate"],
            "p50": [90.0],
            "p95": [400.0],
            "p99": [900.0],
        }
    )
    fig = charts.percentile_lines(frame, "stage", "per stage", QUARTER_HOUR)
    assert {trace.mode for trace in fig.data} == {"lines+markers"}


def test_markers_close_together_share_one_line_with_every_label_on_hover() -> None:
    day = pd.DataFrame(
        {"time": pd.date_range(FIRST_BUCKET, periods=96, freq="15min"), "requests": 1.0}
    )
    deploy = FIRST_BUCKET.timestamp() + 6 * 3600
    markers = pd.DataFrame({
        "at": [deploy, deploy + 20, deploy + 50, deploy + 12 * 3600],
        "short": ["stage expand_context first seen", "alert prompt-bloat firing (acme)",
                  "alert generate-p95 firing (acme)", "service.version 1.6.0 first seen"],
    })  # fmt: skip
    fig = charts.with_markers(charts.line(day, "requests", "Requests"), markers)
    lines = [shape.x0 for shape in fig.layout.shapes]
    assert lines == [pd.Timestamp(deploy, unit="s", tz="UTC"),
                     pd.Timestamp(deploy + 12 * 3600, unit="s", tz="UTC")]  # fmt: skip
    first, second = fig.layout.annotations
    assert first.text == "stage expand_context first seen +2 more"
    assert first.hovertext.split("<br>") == list(markers["short"][:3])
    assert second.text == "service.version 1.6.0 first seen"


def test_a_line_that_never_moves_is_drawn_from_zero_not_inside_plus_minus_one() -> None:
    # The first bucket of `make demo`: plotly centred its axis on the one value, +-1 around it,
    # so a cost per request of $0.00004 sat at "0" between -1 and 1.
    frame = pd.DataFrame({"time": [FIRST_BUCKET], "cost_per_request": [0.00004]})
    fig = charts.line(frame, "cost_per_request", "Cost per request (USD)", step_s=QUARTER_HOUR)
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0.0, 0.00005))
    flat = pd.DataFrame(
        {"time": pd.date_range(FIRST_BUCKET, periods=3, freq="15min"), "pass_rate": 0.0}
    )
    assert tuple(charts.line(flat, "pass_rate", "pass rate").layout.yaxis.range) == (0, 1)
    moving = pd.DataFrame({"time": flat["time"], "requests": [3.0, 5.0, 4.0]})
    assert charts.line(moving, "requests", "Requests").layout.yaxis.range is None  # plotly's


def test_one_percentile_bucket_keeps_plotly_s_axis_and_a_flat_one_starts_at_zero() -> None:
    one = {"time": [FIRST_BUCKET], "stage": ["generate"]}
    spread = pd.DataFrame({**one, "p50": [90.0], "p95": [400.0], "p99": [900.0]})
    assert charts.percentile_lines(spread, "stage", "t").layout.yaxis.range is None
    flat = pd.DataFrame({**one, "p50": [80.0], "p95": [80.0], "p99": [80.0]})
    assert tuple(charts.percentile_lines(flat, "stage", "t").layout.yaxis.range) == (0, 100)
