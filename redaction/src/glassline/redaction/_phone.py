"""Phone numbers: Presidio's PhoneRecognizer (python-phonenumbers) made affordable.

``PhoneNumberMatcher`` costs 30-150 us per region per candidate, and Presidio runs it for every
configured region over the whole text. Here the trigger finds digit runs first, cheap shape
checks drop the ones that are obviously not phone numbers (ISO dates, epochs, pieces of hex
ids and order numbers), and the matcher runs on a few characters around each remaining run,
region by region, stopping at the first region that validates it. A region whose numbering
plan cannot hold a national-format candidate skips parsing it (:mod:`._phone_gate`).
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from glassline.redaction._phone_gate import GatedMatcher

__all__ = ["PHONE_TRIGGER", "PhoneCandidateRecognizer", "phone_candidate"]

# 7+ digits with at most two separator characters between consecutive digits.
PHONE_TRIGGER = r"\d(?:[ \-./()\u00a0]{0,2}\d){6,}"

# Bare 10- or 13-digit runs starting with 1 are Unix timestamps (seconds / milliseconds,
# 2001-2286) in telemetry far more often than Indian toll-free or German numbers.
_EPOCH = re.compile(r"1\d{9}(?:\d{3})?")
_EXTENSION = re.compile(r"(?i)(?:x|ext\.?|extension)\s?\d")  # "555-0100x123"
_NOT_PHONE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{1,2})?"  # ISO date (and the hour of a datetime)
    r"|\d{1,2}[./]\d{1,2}[./]\d{4}(?: \d{1,2})?"  # 06.08.2024 (and the hour of a time)
    r"|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"  # IPv4 address
)


def phone_candidate(text: str, start: int, end: int) -> bool:
    """Whether the trigger hit ``text[start:end]`` could be (or contain) a phone number."""
    if start > 0 and _is_word_char(text[start - 1]):
        return False  # inside an identifier or hex id: "a3ce929d0e0e4736", "T12:33"
    if start >= 2 and text[start - 1] == ":" and text[start - 2].isdigit():
        return False  # the seconds of a time: "11:34:05.578856", "12:00:01 1234"
    if start >= 2 and text[start - 1] == "-" and _is_word_char(text[start - 2]):
        return False  # "ORD-16926707", "#A-65153906"
    letter_after = end < len(text) and _is_word_char(text[end])
    if letter_after and not _EXTENSION.match(text, end):
        return False
    if end + 1 < len(text) and text[end] == "-" and _is_word_char(text[end + 1]):
        return False  # first group of a UUID: "05126700-c9aa-..."
    raw = text[start:end]
    if sum(c.isdigit() for c in raw) > 17:
        return False
    return not (_EPOCH.fullmatch(raw) or _NOT_PHONE.fullmatch(raw))


def _is_word_char(c: str) -> bool:
    # Latin letters only (as phonenumbers' own check): Japanese or Chinese text runs words and
    # numbers together without spaces ("電話は090-1234-5678です").
    return (c.isascii() and c.isalpha()) or c == "_"


class PhoneCandidateRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer for short candidate windows (one number each).

    Stops at the first region whose validation accepts the number; a number written with a
    leading ``+`` is validated once, since its country code says where it belongs.
    """

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        regions = self.supported_regions
        if text.lstrip(" (\n\t").startswith("+"):
            regions = regions[:1]
        results: list[RecognizerResult] = []
        entity = self.supported_entities[0]
        for region in regions:
            matcher = GatedMatcher(text, region, leniency=self.leniency or 0)
            for match in matcher:
                # Start, end and score are all the engine reads: no explanation is built.
                results.append(RecognizerResult(entity, match.start, match.end, self.SCORE))
            if results:
                break
        if len(results) > 1 or (results and results[0].score == 0):
            results = EntityRecognizer.remove_duplicates(results)  # one result: itself
        return [r for r in results if _plausible(text[r.start : r.end])]


def _plausible(raw: str) -> bool:
    # python-phonenumbers accepts short national numbers ("0.23.202" is valid somewhere).
    digits = sum(map(str.isdigit, raw))
    return digits >= 7 and not _EPOCH.fullmatch(raw.strip("()[]{}\"' "))
