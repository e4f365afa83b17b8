"""Presidio's recognizers, built once, each paired with a cheap trigger.

A :class:`Detector` runs its Presidio recognizer only on the windows of text around the hits
of its trigger: plain-``re`` patterns that match a superset of what the recognizer can find
(no ``@``: no email; fewer than 7 digits in a row: no phone number). Validation stays
Presidio's: Luhn for cards, the IBAN checksum, python-phonenumbers for phone numbers, SSN
pruning, the public-suffix check for email domains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from glassline.redaction._secrets import build_secret_recognizers

__all__ = ["Detector", "build_detectors"]

# tldextract's default extractor fetches the public suffix list over the network on first
# use; this one only reads the snapshot bundled with the package (offline, deterministic).
_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with its domain check against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


@dataclass(frozen=True, slots=True)
class Detector:
    """One Presidio recognizer for one entity, and where in a text it is worth running."""

    entity: str
    recognizer: EntityRecognizer
    trigger: re.Pattern[str]
    margin: int  # context kept around each trigger hit; -1 means the whole text

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Merged ``(start, end)`` ranges of ``text`` the recognizer must see."""
        hits = self.trigger.finditer(text)
        if self.margin < 0:
            return [(0, len(text))] if next(hits, None) is not None else []
        merged: list[tuple[int, int]] = []
        for hit in hits:
            lo = _snap_left(text, hit.start() - self.margin)
            hi = _snap_right(text, hit.end() + self.margin)
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return merged


_SNAP = 64  # how far a window may grow to reach a whitespace boundary


def _snap_left(text: str, i: int) -> int:
    if i <= 0:
        return 0
    floor = max(0, i - _SNAP)
    cut = max(text.rfind(" ", floor, i + 1), text.rfind("\n", floor, i + 1))
    return cut + 1 if cut >= 0 else floor


def _snap_right(text: str, i: int) -> int:
    n = len(text)
    if i >= n:
        return n
    ceil = min(n, i + _SNAP)
    cuts = [c for c in (text.find(" ", i, ceil), text.find("\n", i, ceil)) if c >= 0]
    return min(cuts) if cuts else ceil


# Triggers: each matches a superset of its recognizer's matches (and is far cheaper).
_TRIGGERS = {
    "EMAIL_ADDRESS": (r"@", 0),
    # 7+ digits with at most two separator characters between consecutive digits.
    "PHONE_NUMBER": (r"\d(?:[ \-./()\u00a0]{0,2}\d){6,}", 8),
    "CREDIT_CARD": (r"\d(?:[ -]?\d){11,18}", 4),
    "IBAN_CODE": (r"(?i)\b[a-z]{2}\d{2}[ -]?[a-z0-9]{4}", 48),
    "US_SSN": (r"\d{3}[- .]?\d{2}[- .]?\d{4}|\d{5}-\d{4}|\d{3}-\d{6}", 4),
    "IP_ADDRESS": (r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:", 8),
}


# Presidio's card pattern predates Mastercard's 2-series (2221-2720), misses JCB's 15-digit
# 2131 / 1800 ranges, Maestro's 12-digit numbers and 19-digit Visa; these matches still go
# through its Luhn check.
_EXTRA_CARD_PATTERNS = [
    Pattern(
        "Mastercard 2-series / JCB 15 (weak)",
        r"\b(?:2131|1800|2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720))[- ]?\d{4}[- ]?\d{4}[- ]?\d{3,4}\b",
        0.3,
    ),
    Pattern(
        "Maestro 12-19 (weak)",
        r"\b(?:5018|5020|5038|5[6-8]\d\d|5893|6304|6390|6759|676[1-3]|0604)(?:[- ]?\d){8,15}\b",
        0.3,
    ),
    Pattern("Visa 19 (weak)", r"\b4\d{3}(?:[- ]?\d{4}){3}[- ]?\d{3}\b", 0.3),
]


class _PhoneRecognizer(PhoneRecognizer):
    """Presidio's phonenumbers-based recognizer, minus matches that are parts of identifiers.

    python-phonenumbers accepts short national numbers, so without this "ORD-16926707",
    the first group of a UUID, the version "0.23.202" or the epoch "1730380005" read as
    phone numbers.
    """

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, cast(Any, nlp_artifacts))
        return [r for r in results if _plausible_phone(text, r.start, r.end)]


# Bare 10- or 13-digit runs starting with 1 are Unix timestamps (seconds / milliseconds,
# 2001-2286) in telemetry far more often than Indian toll-free or German numbers.
_EPOCH = re.compile(r"1\d{9}(?:\d{3})?")


def _plausible_phone(text: str, start: int, end: int) -> bool:
    raw = text[start:end]
    if sum(c.isdigit() for c in raw) < 7 or _EPOCH.fullmatch(raw.strip("()[]{}\"' ")):
        return False
    # "ORD-1692...", "#A-6515..." before, or "-c9aa" (rest of a UUID) after: an identifier.
    if start >= 2 and text[start - 1] == "-" and text[start - 2].isalpha():
        return False
    return not (end + 1 < len(text) and text[end] == "-" and text[end + 1].isalpha())


def _pii_recognizers(phone_regions: Iterable[str]) -> dict[str, EntityRecognizer]:
    return {
        "EMAIL_ADDRESS": _OfflineEmailRecognizer(),
        "PHONE_NUMBER": _PhoneRecognizer(supported_regions=tuple(phone_regions)),
        "CREDIT_CARD": CreditCardRecognizer(
            patterns=[*CreditCardRecognizer.PATTERNS, *_EXTRA_CARD_PATTERNS]
        ),
        "IBAN_CODE": IbanRecognizer(),
        "US_SSN": UsSsnRecognizer(),
        "IP_ADDRESS": IpRecognizer(),
    }


def build_detectors(entities: Iterable[str], phone_regions: Iterable[str]) -> list[Detector]:
    """Detectors for the pattern-based ``entities`` (NER entities are handled elsewhere)."""
    wanted = set(entities)
    detectors = [
        Detector(entity, recognizer, re.compile(_TRIGGERS[entity][0]), _TRIGGERS[entity][1])
        for entity, recognizer in _pii_recognizers(phone_regions).items()
        if entity in wanted
    ]
    for recognizer, trigger in build_secret_recognizers():
        entity = recognizer.supported_entities[0]
        if entity in wanted:
            detectors.append(Detector(entity, recognizer, trigger, -1))
    for detector in detectors:
        detector.recognizer.load()
    return detectors
