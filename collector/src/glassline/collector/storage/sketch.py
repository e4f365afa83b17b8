"""Latency sketches: DDSketch with a fixed relative accuracy, serialized for the rollup rows.

Every sketch in the store uses the same accuracy so any two rows merge exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.pb.ddsketch_pb2 import DDSketch as DDSketchPb
from ddsketch.pb.proto import DDSketchProto, KeyMappingProto
from ddsketch.store import DenseStore

RELATIVE_ACCURACY = 0.01


def new_sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


def encode(sketch: BaseDDSketch) -> bytes:
    # ddsketch ships py.typed but leaves its protobuf helpers unannotated.
    pb = DDSketchProto.to_proto(sketch)  # type: ignore[no-untyped-call]
    data: bytes = pb.SerializeToString()
    return data


def decode(data: bytes) -> BaseDDSketch:
    """The sketch serialized by :func:`encode`.

    Rebuilds the dense stores from the bin arrays in one step: ddsketch's own
    ``from_proto`` adds bins one at a time, which made it the cost of a whole store write.
    """
    pb = DDSketchPb()
    pb.ParseFromString(data)
    return BaseDDSketch(
        mapping=KeyMappingProto.from_proto(pb.mapping),  # type: ignore[no-untyped-call]
        store=_store_from_proto(pb.positiveValues),
        negative_store=_store_from_proto(pb.negativeValues),
        zero_count=pb.zeroCount,
    )


def _store_from_proto(proto: Any) -> DenseStore:
    store = _store_from_bins(proto.contiguousBinIndexOffset, list(proto.contiguousBinCounts))
    for key, count in proto.binCounts.items():  # sparse bins, written by other encoders
        store.add(key, count)
    return store


def _store_from_bins(offset: int, counts: list[float]) -> DenseStore:
    store = DenseStore()
    lo, hi = 0, len(counts)
    while lo < hi and not counts[lo]:  # encode() keeps the store's zero padding: drop it
        lo += 1
    while hi > lo and not counts[hi - 1]:
        hi -= 1
    if lo < hi:
        store.bins = counts[lo:hi]
        store.offset = offset + lo
        store.min_key = store.offset
        store.max_key = store.offset + (hi - lo) - 1
        store.count = sum(store.bins)
    return store


def merge_encoded(blobs: Iterable[bytes | None]) -> BaseDDSketch:
    """One sketch from many serialized ones (``None`` entries are skipped).

    Sums the bin arrays with numpy instead of merging sketch objects: a stats query over a
    month merges thousands of rows, and this keeps that to milliseconds.
    """
    parts: list[tuple[int, np.ndarray]] = []
    unusual: list[bytes] = []
    zero = 0.0
    for found in _parsed(blobs):
        if isinstance(found, bytes):
            unusual.append(found)
            continue
        zeros, first, counts = found
        if counts:
            parts.append((first, np.array(counts)))
        zero += zeros
    merged: BaseDDSketch = new_sketch()
    if parts:
        lo = min(offset for offset, _ in parts)
        hi = max(offset + len(bins) for offset, bins in parts)
        total = np.zeros(hi - lo)
        for offset, bins in parts:
            total[offset - lo : offset - lo + len(bins)] += bins
        store = _store_from_bins(lo, total.tolist())
        merged = BaseDDSketch(
            mapping=merged._mapping, store=store, negative_store=DenseStore(), zero_count=zero
        )
    elif zero:
        merged._zero_count = zero
        merged._count = zero
    for blob in unusual:
        merged.merge(decode(blob))
    return merged


def count_below(merged: BaseDDSketch, threshold: float) -> float:
    """How many values of ``merged`` are below ``threshold`` (to the sketch's 1% bins)."""
    if threshold <= 0:
        return 0.0
    store, limit = merged._store, merged._mapping.key(threshold)
    below = merged._zero_count
    for i, n in enumerate(store.bins):
        if store.offset + i >= limit:
            break
        below += n
    return float(below)


def count_below_encoded(blobs: Iterable[bytes | None], threshold: float) -> tuple[float, float]:
    """(values below ``threshold``, all values) of the serialized sketches ``blobs`` together:
    ``count_below`` and ``count`` of their merge, without merging (a latency SLO needs only
    these two, and building the merged sketch was most of its cost once the blobs were few).
    """
    below = total = 0.0
    limit = _MAPPING.key(threshold) if threshold > 0 else None
    for found in _parsed(blobs):
        if isinstance(found, bytes):
            unusual = decode(found)
            below, total = below + count_below(unusual, threshold), total + unusual.count
            continue
        zeros, offset, bins = found
        counted = sum(bins)
        total += zeros + counted
        if limit is not None:
            under = limit - offset
            below += zeros + (counted if under >= len(bins) else sum(bins[: max(under, 0)]))
    return below, total


def _parsed(blobs: Iterable[bytes | None]) -> Iterator[tuple[float, int, Sequence[float]] | bytes]:
    """Each serialized sketch (``None`` and empty ones skipped) as its zero count, first bin's
    key and bin counts, as :func:`encode` writes them; one of another shape as its bytes, for
    the exact slow path. The bin counts are valid until the next item is taken (one message
    is parsed into again and again: a month of rows is thousands of them)."""
    pb = DDSketchPb()
    for blob in blobs:
        if not blob:
            continue
        pb.ParseFromString(blob)
        positive, negative = pb.positiveValues, pb.negativeValues
        if positive.binCounts or negative.contiguousBinCounts or negative.binCounts:
            yield blob
        else:
            yield pb.zeroCount, positive.contiguousBinIndexOffset, positive.contiguousBinCounts


_MAPPING = new_sketch()._mapping
_MAPPING_PROTO = KeyMappingProto.to_proto(_MAPPING)  # type: ignore[no-untyped-call]
# Span times have nanosecond resolution: anything under 1 ns (1e-6 ms) is zero. Without this
# floor a value like 1e-300 (a client-sent ttft) would make a dense sketch of 35,000 bins.
ZERO_BELOW_MS = 1e-6


@dataclass(slots=True)
class Bins:
    """Values counted into the store's sketch bins: merge two by adding, encode once.

    Lets the writer bin each span's latency once (at minute grain) and derive the hour and
    day rows by adding bins, instead of indexing every value again per table.
    """

    counts: dict[int, float] = field(default_factory=dict)
    zero: float = 0.0

    def add(self, values: Iterable[float]) -> Bins:
        """Count ``values`` (anything below the smallest indexable value counts as zero)."""
        counts = self.counts
        key, smallest = _MAPPING.key, max(_MAPPING.min_possible, ZERO_BELOW_MS)
        for value in values:
            if value > smallest:
                k = key(value)
                counts[k] = counts.get(k, 0.0) + 1.0
            else:
                self.zero += 1.0
        return self

    def merge(self, other: Bins) -> Bins:
        counts = self.counts
        for k, n in other.counts.items():
            counts[k] = counts.get(k, 0.0) + n
        self.zero += other.zero
        return self

    def encode(self, base: bytes | None = None) -> bytes:
        """Serialized sketch of these bins plus the sketch ``base``, if given."""
        counts, zero = self.counts, self.zero
        if base:
            pb = DDSketchPb()
            pb.ParseFromString(base)
            positive = pb.positiveValues
            if positive.binCounts or pb.negativeValues.contiguousBinCounts:
                return _encode_slow(base, self)  # a shape encode() never writes
            counts = dict(counts)
            offset = positive.contiguousBinIndexOffset
            for i, count in enumerate(positive.contiguousBinCounts):
                if count:
                    counts[offset + i] = counts.get(offset + i, 0.0) + count
            zero += pb.zeroCount
        out = DDSketchPb(mapping=_MAPPING_PROTO, zeroCount=zero)
        if counts:
            lo, hi = min(counts), max(counts)
            out.positiveValues.contiguousBinIndexOffset = lo
            out.positiveValues.contiguousBinCounts.extend(
                [counts.get(k, 0.0) for k in range(lo, hi + 1)]
            )
        data: bytes = out.SerializeToString()
        return data


def _encode_slow(base: bytes, bins: Bins) -> bytes:
    """``base`` decoded with ddsketch itself, ``bins`` added bin by bin: exact for any shape."""
    merged = decode(base)
    store = merged._store
    for k, n in bins.counts.items():
        store.add(k, n)
    merged._zero_count += bins.zero
    merged._count += sum(bins.counts.values()) + bins.zero
    return encode(merged)


def encode_values(values: Iterable[float], base: bytes | None = None) -> bytes:
    """Serialized sketch of ``values`` (plus the sketch ``base``, if given).

    Equal to adding the values to a :func:`new_sketch` (merged with ``base``) and calling
    :func:`encode`, without building sketch objects: the store does this for every rollup
    row it writes. Latencies are never negative; anything below the smallest indexable
    value counts as zero, as in DDSketch.
    """
    return Bins().add(values).encode(base)


def quantiles(
    sketch: BaseDDSketch, qs: Iterable[float] = (0.5, 0.95, 0.99)
) -> dict[float, float | None]:
    if sketch.count == 0:
        return {q: None for q in qs}
    return {q: sketch.get_quantile_value(q) for q in qs}
