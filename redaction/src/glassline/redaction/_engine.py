"""The fast pattern path: triggers, windows, and one Presidio call per recognizer per batch.

For a batch of texts, each detector collects the windows its trigger finds in every text,
joins them with a separator no pattern can cross, and runs its Presidio recognizer once on
the joined string; findings are mapped back to (text, offset). Text without any trigger hit
costs a few ``re`` scans and nothing else.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, cast

from glassline.redaction._recognizers import Detector, Gates, digit_clusters

__all__ = ["MIN_TEXT_LEN", "Finding", "PatternEngine"]

_log = logging.getLogger(__name__)

# NUL is neither a word character nor whitespace nor phone punctuation, so no pattern (and no
# phonenumbers candidate) spans two windows; the newlines stop \b-anchored patterns as well.
_SEP = "\n\x00\n"
MIN_TEXT_LEN = 6  # nothing detectable fits in fewer characters ("a@b.co", "1.1.1.1")


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected entity in one text (character offsets, end exclusive)."""

    entity: str
    start: int
    end: int
    score: float


class PatternEngine:
    """Runs the detectors over batches of texts."""

    def __init__(self, detectors: Sequence[Detector], score_threshold: float) -> None:
        self._detectors = list(detectors)
        self._gates = Gates(self._detectors)
        self._threshold = score_threshold

    def analyze(
        self, texts: Sequence[str], deadline: float = math.inf
    ) -> tuple[list[list[Finding]], set[int]]:
        """Findings per text, and the indices of texts whose analysis raised or ran late.

        ``deadline`` is a ``time.monotonic()`` value: once it has passed, every text not yet
        seen by all detectors is reported failed (the caller fails closed).
        """
        found: list[list[Finding]] = [[] for _ in texts]
        failed: set[int] = set()
        batch = _Joined.of_analysable(texts, self._gates)
        for k, detector in enumerate(self._detectors):
            if time.monotonic() > deadline:
                _log.warning("redaction ran past its deadline; failing %d values closed",
                             len(batch.indices))  # fmt: skip
                failed.update(batch.indices)
                break
            try:
                self._run(k, texts, batch, found)
            except Exception:
                # One text broke the batch: redo it text by text so only that one fails.
                _log.warning("%s failed on a batch; retrying per text", detector.entity)
                for i in batch.indices:
                    if i in failed:
                        continue
                    found[i] = [f for f in found[i] if f.entity != detector.entity]
                    try:
                        self._run(k, texts, _Joined(texts, [i], self._gates), found)
                    except Exception as exc:
                        _log.warning(
                            "%s failed on a value: %s", detector.entity, type(exc).__name__
                        )
                        failed.add(i)
        return found, failed

    def may_find(self, texts: Sequence[str]) -> list[bool]:
        """Per text: whether any trigger or gate hits it. False: :meth:`analyze` finds nothing.

        A cheap first pass (one scan per trigger over the whole batch) so that the texts
        without a single hit, most of them in practice, skip parsing, analysis and rendering.
        """
        batch = _Joined.of_analysable(texts, self._gates)
        hot = [False] * len(texts)
        for k in range(len(self._detectors)):
            for i, _ in batch.hits_by_text(k):
                hot[i] = True
        return hot

    def _run(
        self,
        k: int,
        texts: Sequence[str],
        batch: _Joined,
        found: list[list[Finding]],
    ) -> None:
        detector = self._detectors[k]
        pieces: list[str] = []
        starts: list[int] = []  # offset of each window in the joined string
        origin: list[tuple[int, int, int]] = []  # (text index, window start, window length)
        pos = 0
        for i, hits in batch.hits_by_text(k):
            text = texts[i]
            covered = [(f.start, f.end) for f in found[i]] if detector.per_window else ()
            for lo, hi in detector.windows(text, hits, covered):
                pieces.append(text[lo:hi])
                starts.append(pos)
                origin.append((i, lo, hi - lo))
                pos += hi - lo + len(_SEP)
        if not pieces:
            return
        if detector.per_window:
            batches = list(zip(pieces, starts, strict=True))
        else:
            batches = [(_SEP.join(pieces), 0)]
        for text, base in batches:
            self._collect(detector, text, base, starts, origin, found)

    def _collect(
        self,
        detector: Detector,
        text: str,
        base: int,
        starts: list[int],
        origin: list[tuple[int, int, int]],
        found: list[list[Finding]],
    ) -> None:
        # Pattern recognizers need no NLP artifacts (that is the point of the fast path).
        results = detector.recognizer.analyze(text, [detector.entity], cast(Any, None))
        for result in results:
            if result.score < self._threshold or result.entity_type != detector.entity:
                continue
            k = bisect_right(starts, base + result.start) - 1
            i, lo, length = origin[k]
            start = base + result.start - starts[k]
            end = min(base + result.end - starts[k], length)
            if 0 <= start < end:
                found[i].append(Finding(detector.entity, lo + start, lo + end, result.score))


class _Joined:
    """Texts joined by :data:`_SEP`, so each trigger scans a whole batch in one C-level pass."""

    def __init__(self, texts: Sequence[str], indices: list[int], gates: Gates) -> None:
        self.indices = indices
        self.text = _SEP.join(texts[i] for i in indices)
        step = len(_SEP)
        self.starts = list(accumulate((len(texts[i]) + step for i in indices), initial=0))
        if self.text.isascii():
            self.clusters = digit_clusters(self.text)
        else:  # text by text, so one non-ASCII text does not slow down the whole batch
            self.clusters = [
                (base + a, base + b)
                for i, base in zip(indices, self.starts, strict=False)
                for a, b in digit_clusters(texts[i])
            ]
        self._gates = gates
        self._gated: list[list[tuple[int, int]]] | None = None  # the scan, once needed

    @classmethod
    def of_analysable(cls, texts: Sequence[str], gates: Gates) -> _Joined:
        """The texts long enough to hold an entity; shorter ones ("user", ids) skip every scan."""
        return cls(texts, [i for i, t in enumerate(texts) if len(t) >= MIN_TEXT_LEN], gates)

    def hits_by_text(self, k: int) -> list[tuple[int, list[tuple[int, int]]]]:
        """Detector ``k``'s hits, grouped by text, in each text's own offsets."""
        detector = self._gates.detectors[k]
        if detector.trigger is None:
            if self._gated is None:
                self._gated = self._gates.scan(self.text)
            spans: Iterable[tuple[int, int]] = self._gated[k]
        else:
            spans = detector.hits_in(self.text, self.clusters)
        grouped: dict[int, list[tuple[int, int]]] = {}
        starts = self.starts
        for start, end in spans:
            j = bisect_right(starts, start) - 1
            grouped.setdefault(j, []).append((start - starts[j], end - starts[j]))
        return [(self.indices[j], hits) for j, hits in sorted(grouped.items())]
