"""Serialized latency sketches: fast encode, decode and merge agree with DDSketch itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassline.collector.storage import sketch

latencies = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=sketch.ZERO_BELOW_MS * 1.001, max_value=1e7)),
    max_size=80,
)


def reference(*groups: list[float]):
    ref = sketch.new_sketch()
    for group in groups:
        for value in group:
            ref.add(value)
    # Through encode/decode: the mapping's constants round-trip with the last bits changed.
    return sketch.decode(sketch.encode(ref)) if ref.count else ref


def same(a, b) -> None:
    assert a.count == b.count
    if b.count:
        for q in (0.0, 0.25, 0.5, 0.95, 0.99, 1.0):
            assert a.get_quantile_value(q) == pytest.approx(b.get_quantile_value(q), rel=1e-12)


@settings(deadline=None)
@given(latencies, latencies)
def test_encode_values_equals_adding_to_a_sketch(first: list[float], more: list[float]) -> None:
    same(sketch.decode(sketch.encode_values(first)), reference(first))
    base = sketch.encode_values(first)
    same(sketch.decode(sketch.encode_values(more, base)), reference(first, more))


@settings(deadline=None)
@given(st.lists(latencies, max_size=6))
def test_merge_encoded_equals_one_sketch_of_everything(groups: list[list[float]]) -> None:
    blobs = [sketch.encode_values(g) for g in groups] + [None]
    same(sketch.merge_encoded(blobs), reference(*groups))


def test_quantiles_are_within_the_relative_accuracy() -> None:
    values = [float(v) for v in range(1, 1001)]
    q = sketch.quantiles(sketch.decode(sketch.encode_values(values)))
    assert q[0.5] == pytest.approx(500, rel=sketch.RELATIVE_ACCURACY)
    assert q[0.99] == pytest.approx(990, rel=sketch.RELATIVE_ACCURACY)
    assert sketch.quantiles(sketch.new_sketch()) == {0.5: None, 0.95: None, 0.99: None}


def test_values_under_a_nanosecond_count_as_zero_and_keep_sketches_small() -> None:
    blob = sketch.encode_values([1e-300, 5e-324, -3.0, 0.0, 2.0])
    decoded = sketch.decode(blob)
    assert decoded.count == 5
    assert decoded.get_quantile_value(0.5) == 0
    assert len(blob) < 100


@settings(deadline=None)
@given(st.lists(latencies, max_size=6), st.floats(min_value=-1.0, max_value=2e7))
def test_counting_below_a_threshold_unmerged_equals_counting_the_merge(
    groups: list[list[float]], threshold: float
) -> None:
    blobs = [sketch.encode_values(g) for g in groups] + [None]
    merged = sketch.merge_encoded(blobs)
    for limit in (threshold, *(v * (1 + 1e-9) for g in groups for v in g[:3])):
        assert sketch.count_below_encoded(blobs, limit) == (
            sketch.count_below(merged, limit),
            merged.count,
        )
