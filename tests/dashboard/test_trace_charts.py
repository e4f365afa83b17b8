"""The charts of traces draw every span of a trace, however alike their labels."""

from __future__ import annotations

import pandas as pd

from glassline.dashboard import trace_charts


def test_each_span_of_a_waterfall_has_a_row_of_its_own_even_when_labels_match() -> None:
    # Rows keyed by label merged same-named spans whose ids began alike: three bars, one row.
    spans = pd.DataFrame({"span_id": ["ab12" + "0" * 12, "ab12" + "1" * 12, "ab12" + "2" * 12],
                          "label": ["chat  ·ab12"] * 3, "status": ["ok"] * 3,
                          "bar_ms": [1.0] * 3, "bar_offset_ms": [0.0, 2.0, 4.0],
                          "offset_ms": [0.0, 2.0, 4.0], "duration_ms": [1.0] * 3})  # fmt: skip
    fig = trace_charts.waterfall(spans)
    assert len(set(fig.data[0].y)) == 3
    assert list(fig.layout.yaxis.ticktext) == ["chat  ·ab12"] * 3


def test_a_span_of_microseconds_reads_its_time_not_zero() -> None:
    # make demo: a 4 µs semantic cache lookup read "0.00 ms" on its bar.
    spans = pd.DataFrame({"span_id": ["a" * 16, "b" * 16], "label": ["answer", "cache"],
                          "status": ["ok"] * 2, "bar_ms": [0.12, 0.0012],
                          "bar_offset_ms": [0.0, 0.1], "offset_ms": [0.0, 0.1],
                          "duration_ms": [0.122443, 0.004046]})  # fmt: skip
    bars = trace_charts.waterfall(spans).data[0]
    assert list(bars.text) == ["0.12 ms", "0.0040 ms"]
    assert [row[2] for row in bars.customdata] == ["0.12 ms", "0.0040 ms"]  # the hover too
