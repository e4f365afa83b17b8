"""The fast sketch merger gives the same percentiles as the store's own DDSketch merge."""

from __future__ import annotations

from ddsketch.pb.ddsketch_pb2 import DDSketch as DDSketchPb
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


def test_sketches_with_sparse_bins_merge_like_ddsketch():
    # The store writes contiguous bins (read straight from the bytes); other encoders may
    # write a sparse bin map, which goes through protobuf.
    pb = DDSketchPb()
    pb.mapping.CopyFrom(DDSketchPb.FromString(sketch.encode(sketch.new_sketch())).mapping)
    pb.zeroCount = 1
    pb.positiveValues.binCounts[40] = 2
    pb.positiveValues.binCounts[400] = 1
    pb.positiveValues.contiguousBinIndexOffset = 100
    pb.positiveValues.contiguousBinCounts.extend([1, 0, 3])
    blobs = [pb.SerializeToString(), sketch.encode(sketch.new_sketch())]
    qs = (0.0, 0.3, 0.5, 0.95, 1.0)
    merger = BinMerger().add_many(blobs)
    assert merger.count == 8
    assert merger.quantiles(qs) == sketch.quantiles(sketch.merge_encoded(blobs), qs)
