"""Fast merging of the store's serialized latency sketches, for percentiles over many rows.

``glassline.collector.storage.sketch.merge_encoded`` builds a full Python DDSketch per row
(about 150 µs each), which is too slow for a chart that merges tens of thousands of rollup rows.
Here the packed bin counts of each sketch are read straight from its bytes (a numpy view, no
Python float per bin) and the bins of a group are summed into one histogram when read. Quantiles follow ddsketch's own definition (rank ``q * (n - 1)``,
lower key at rank, the mapping's bucket value), so results equal ``merge_encoded``'s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import numpy as np
from ddsketch.mapping import LogarithmicMapping
from ddsketch.pb.ddsketch_pb2 import DDSketch as DDSketchPb

from glassline.collector.storage.sketch import RELATIVE_ACCURACY

__all__ = ["QUANTILES", "BinMerger"]

QUANTILES = (0.5, 0.95, 0.99)
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


_NO_BINS = np.zeros(0, dtype=np.float64)
_LOOP_PARTS = 8


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _store_bins(data: bytes, pos: int, end: int) -> tuple[int, np.ndarray] | None:
    """(first key, counts) of a ``Store`` message whose bins are all contiguous, else None."""
    offset, counts = 0, _NO_BINS
    while pos < end:
        tag, pos = _varint(data, pos)
        if tag == 0x12:  # contiguousBinCounts: packed little-endian doubles
            length, pos = _varint(data, pos)
            counts = np.frombuffer(data, "<f8", length // 8, pos)
            pos += length
        elif tag == 0x18:  # contiguousBinIndexOffset: zigzag varint
            raw, pos = _varint(data, pos)
            offset = (raw >> 1) ^ -(raw & 1)
        else:  # sparse bins or another encoding: let protobuf read it
            return None
    return offset, counts


def _wire_bins(blob: bytes) -> tuple[float, int, np.ndarray] | None:
    """(zero count, first key, positive counts) read straight from the wire format, without
    a Python float per bin; None for anything but contiguous bins (protobuf parses those)."""
    zero, offset, counts = 0.0, 0, _NO_BINS
    pos, end = 0, len(blob)
    while pos < end:
        tag, pos = _varint(blob, pos)
        wire = tag & 7
        if wire == 2:  # mapping (1), positiveValues (2), negativeValues (3, ignored)
            length, pos = _varint(blob, pos)
            if tag >> 3 == 2:
                found = _store_bins(blob, pos, pos + length)
                if found is None:
                    return None
                offset, counts = found
            pos += length
        elif wire == 1:  # zeroCount (4)
            if tag >> 3 == 4:
                zero = struct.unpack_from("<d", blob, pos)[0]
            pos += 8
        else:
            return None
    return zero, offset, counts


class BinMerger:
    """Accumulates serialized sketches; :meth:`quantiles` reads the merged distribution.

    :meth:`add` reads a sketch's bin counts as one numpy view of its bytes (the store writes
    packed contiguous bins); converting a protobuf field to numpy cost a Python float per
    bin. The counts are summed into one array when a figure is read (:meth:`_fold`).
    Latencies are never negative, so negative bins (which the store never writes) are ignored.
    """

    __slots__ = ("_dense", "_offset", "_parts", "_zero")

    def __init__(self) -> None:
        self._parts: list[tuple[int, np.ndarray]] = []  # (first key, contiguous counts)
        self._dense: np.ndarray = _NO_BINS
        self._offset = 0
        self._zero = 0.0

    def add_many(self, blobs: Iterable[bytes | None]) -> BinMerger:
        for blob in blobs:
            if blob:
                self.add(blob)
        return self

    def add(self, blob: bytes) -> None:
        found = _wire_bins(blob)
        if found is None:
            self._add_parsed(blob)
            return
        zero, offset, counts = found
        self._zero += zero
        if len(counts):
            self._parts.append((offset, counts))

    def _add_parsed(self, blob: bytes) -> None:
        pb = DDSketchPb()
        pb.ParseFromString(blob)
        self._zero += pb.zeroCount
        store = pb.positiveValues
        counts = store.contiguousBinCounts
        if counts:
            array = np.fromiter(counts, float, len(counts))
            self._parts.append((store.contiguousBinIndexOffset, array))
        for key, count in store.binCounts.items():  # sparse bins, from other encoders
            self._parts.append((key, np.array([count], dtype=float)))

    def merge(self, other: BinMerger) -> None:
        """Add another merger's distribution to this one."""
        self._zero += other._zero
        self._parts.extend(other._parts)
        if len(other._dense):
            self._parts.append((other._offset, other._dense))

    def _fold(self) -> None:
        """Sum the kept bin counts into ``_dense`` (bins from key ``_offset``)."""
        parts = self._parts
        if not parts:
            return
        if len(self._dense):
            parts.append((self._offset, self._dense))
        dense: np.ndarray
        if len(parts) <= _LOOP_PARTS:  # a few slice additions beat the vectorized setup
            lo = min(offset for offset, _ in parts)
            dense = np.zeros(max(offset + len(counts) for offset, counts in parts) - lo)
            for offset, counts in parts:
                dense[offset - lo : offset - lo + len(counts)] += counts
        else:  # every bin's key at once, summed by bincount
            offsets = np.fromiter((p[0] for p in parts), np.int64, len(parts))
            lengths = np.fromiter((len(p[1]) for p in parts), np.int64, len(parts))
            counts = np.concatenate([p[1] for p in parts])
            firsts = np.repeat(np.cumsum(lengths) - lengths - offsets, lengths)
            keys = np.arange(len(counts)) - firsts
            lo = int(offsets.min())
            dense = np.bincount(keys - lo, weights=counts)
        self._dense, self._offset, self._parts = dense, lo, []

    @property
    def count(self) -> float:
        self._fold()
        return float(self._dense.sum()) + self._zero

    def quantiles(self, qs: Iterable[float] = QUANTILES) -> dict[float, float | None]:
        """Value at each quantile in the unit the sketches hold (ms); ``None`` when empty."""
        total = self.count
        if total == 0:
            return {q: None for q in qs}
        cumulative = np.cumsum(self._dense)
        out: dict[float, float | None] = {}
        for q in qs:
            rank = q * (total - 1)
            if rank < self._zero:
                out[q] = 0.0
                continue
            index = int(np.searchsorted(cumulative, rank - self._zero, side="right"))
            index = min(index, len(cumulative) - 1)
            out[q] = float(_MAPPING.value(index + self._offset))
        return out
