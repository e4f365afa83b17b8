"""Time charts draw what they are given, however little: the first minutes of a new install;
and the app's text (stages, models, users, span names) as sent, never as Plotly's markup."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from glassline.dashboard import charts, trace_charts

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


def test_a_bucket_still_being_written_is_drawn_apart_not_as_a_drop() -> None:
    # `make demo` at 22:15: 2,500 requests in the 22:00 quarter, 200 so far in the 22:15 one:
    # a solid line plunged to 200 as if traffic had collapsed.
    times = pd.date_range(FIRST_BUCKET, periods=3, freq="15min")
    frame = pd.DataFrame({"time": times, "requests": [2400.0, 2500.0, 200.0]})
    now = int(times[-1].timestamp())
    fig = charts.line(frame, "requests", "Requests", step_s=QUARTER_HOUR, partial={now})
    solid, tail = fig.data
    assert list(solid.y) == [2400.0, 2500.0] and solid.line.dash is None
    assert list(tail.y) == [2500.0, 200.0] and tail.line.dash == "dot"
    assert charts.PARTIAL_NOTE in [a.text for a in fig.layout.annotations]
    whole = charts.line(frame, "requests", "Requests", step_s=QUARTER_HOUR)
    assert len(whole.data) == 1 and not whole.layout.annotations

    days = pd.DataFrame({"time": times, "day": ["a", "b", "c"], "cost_usd": [1.0, 2.0, 0.1]})
    bars = charts.bar(days, "day", "cost_usd", "per day", categorical=True, partial={now})
    assert list(bars.data[0].marker.opacity) == [1.0, 1.0, 0.4]
    kinds = days.assign(kind="output")
    stacked = charts.stacked_bars(kinds, "time", "cost_usd", "kind", "t", QUARTER_HOUR, {now})
    assert list(stacked.data[0].marker.opacity) == [1.0, 1.0, 0.4]


def test_a_chart_in_dollars_hovers_and_ticks_in_dollars() -> None:
    # Plotly's own hover read 4.47e-05 and 1234.5; its axis could read 20µ.
    frame = pd.DataFrame({"model": ["mini", "big"], "cost_usd": [0.0000447, 1234.5]})
    fig = charts.in_usd(charts.bar(frame, "model", "cost_usd", "Spend (USD)", horizontal=True))
    assert dict(zip(fig.data[0].y, fig.data[0].hovertext, strict=True)) == {
        "mini": "$0.0000447",
        "big": "$1,234.50",
    }
    assert (fig.layout.xaxis.tickprefix, fig.layout.xaxis.exponentformat) == ("$", "none")


# Plotly draws <a href> as a link, <span style> restyled, and &lt; as "<" in every text it
# shows: names, tick labels, hover texts and annotations.
HOSTILE = '<a href="https://evil.example/">re-login</a> & <span style="font-size:60px">BIG</span>'
SHOWN = (
    '&lt;a href="https://evil.example/"&gt;re-login&lt;/a&gt; &amp; '
    '&lt;span style="font-size:60px"&gt;BIG&lt;/span&gt;'
)


def _figures_with_the_app_s_text() -> dict[str, go.Figure]:
    times = {"time": [FIRST_BUCKET]}
    by_value = pd.DataFrame({**times, "stage": [HOSTILE], "cost_usd": [0.5], "p50": [1.0],
                             "p95": [2.0], "p99": [3.0]})  # fmt: skip
    markers = pd.DataFrame({"at": [FIRST_BUCKET.timestamp()], "short": [HOSTILE],
                            "label": [HOSTILE]})  # fmt: skip
    traces = pd.DataFrame({"start": [FIRST_BUCKET], "duration_ms": [5.0], "status": ["ok"],
                           "trace_id": ["t"], "tenant": ["acme"], "root_name": [HOSTILE]})  # fmt: skip
    spans = pd.DataFrame({"span_id": ["s"], "label": [HOSTILE], "status": ["ok"], "bar_ms": [1.0],
                          "bar_offset_ms": [0.0], "offset_ms": [0.0], "duration_ms": [1.0]})  # fmt: skip
    change = pd.DataFrame({"value": [HOSTILE], "volume_or_mix": [1.0], "rate": [0.5]})
    return {
        "line": charts.line(by_value, "cost_usd", "t", color="stage"),
        "percentile_lines": charts.percentile_lines(by_value, "stage", "t"),
        "bar": charts.in_usd(charts.bar(by_value, "stage", "cost_usd", "t", horizontal=True)),
        "stacked_bars": charts.stacked_bars(by_value, "time", "cost_usd", "stage", "t"),
        "series_by": charts.series_by(
            by_value, "cost_usd", "stage", "t", stacked=True, step_s=QUARTER_HOUR, markers=markers
        ),
        "series_by lines": charts.series_by(
            by_value, "cost_usd", "stage", "t", stacked=False, step_s=QUARTER_HOUR
        ),
        "trace_scatter": trace_charts.trace_scatter(traces, "t"),
        "waterfall": trace_charts.waterfall(spans),
        "contributions": charts.contributions(change, "value", True, "t"),
    }


def _texts(fig: go.Figure) -> list[str]:
    """Every string the figure shows: trace names, categories, texts, annotations."""
    shown: list[str] = []
    for trace in fig.data:
        shown += [trace.name or ""] + [
            str(v) for v in (trace.text if trace.text is not None else ())
        ]
        if getattr(trace, "orientation", None) == "h":
            shown += [str(v) for v in trace.y]
    shown += [str(v) for v in fig.layout.yaxis.ticktext or ()]
    for note in fig.layout.annotations:
        shown += [note.text or "", note.hovertext or ""]
    return shown


@pytest.mark.parametrize("name", list(_figures_with_the_app_s_text()))
def test_the_app_s_text_is_drawn_as_sent_not_as_plotly_markup(name: str) -> None:
    fig = _figures_with_the_app_s_text()[name]
    texts = _texts(fig)
    assert any(SHOWN in text for text in texts)  # the app's text is in the figure, escaped
    assert not any("<a " in text or "<span" in text for text in texts)


@pytest.mark.parametrize("name", ["bar", "contributions"])
def test_a_clicked_bar_holds_the_app_s_text_as_sent(name: str) -> None:
    # Clicks open the traces of the bar's value: it must be the value, not its escaped form.
    fig = _figures_with_the_app_s_text()[name]
    assert fig.data[0].customdata[0][0] == HOSTILE
