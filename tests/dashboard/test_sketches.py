"""The fast sketch merger gives the same percentiles as the store's own DDSketch merge."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glassline.collector.storage import sketch
from glassline.dashboard.sketches import BinMerger

durations = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=3_600_000)), max_size=30
)


@settings(max_examples=60, deadline=None)
@given(st.lists(durations, min_size=1, max_size=12))
def test_merged_percentiles_equal_ddsketch_merge(groups: list[list[float]]):
    blobs = []
    for values in groups:
        s = sketch.new_sketch()
        for v in values:
            s.add(v)
        blobs.append(sketch.encode(s))
    qs = (0.0, 0.5, 0.95, 0.99, 1.0)
    merger = BinMerger().add_many([*blobs, None, b""])
    assert merger.count == sum(len(v) for v in groups)
    assert merger.quantiles(qs) == sketch.quantiles(sketch.merge_encoded(blobs), qs)


def test_empty_merger_has_no_percentiles():
    assert BinMerger().quantiles() == {0.5: None, 0.95: None, 0.99: None}
