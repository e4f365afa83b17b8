"""Latency sketches: DDSketch with a fixed relative accuracy, serialized for the rollup rows.

Every sketch in the store uses the same accuracy so any two rows merge exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

from ddsketch import DDSketch
from ddsketch.pb.ddsketch_pb2 import DDSketch as DDSketchPb
from ddsketch.pb.proto import DDSketchProto

RELATIVE_ACCURACY = 0.01


def new_sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


def encode(sketch: DDSketch) -> bytes:
    return DDSketchProto.to_proto(sketch).SerializeToString()


def decode(data: bytes) -> DDSketch:
    pb = DDSketchPb()
    pb.ParseFromString(data)
    return DDSketchProto.from_proto(pb)


def merge_encoded(blobs: Iterable[bytes | None]) -> DDSketch:
    """One sketch from many serialized ones (``None`` entries are skipped)."""
    merged = new_sketch()
    for blob in blobs:
        if blob:
            merged.merge(decode(blob))
    return merged


def quantiles(
    sketch: DDSketch, qs: Iterable[float] = (0.5, 0.95, 0.99)
) -> dict[float, float | None]:
    if sketch.count == 0:
        return {q: None for q in qs}
    return {q: sketch.get_quantile_value(q) for q in qs}
