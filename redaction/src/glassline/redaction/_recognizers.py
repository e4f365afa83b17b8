"""Presidio's recognizers, built once, each paired with a cheap trigger.

A :class:`Detector` runs its Presidio recognizer only on the windows of text around the hits
of its trigger: plain-``re`` patterns that match a superset of what the recognizer can find
(no ``@``: no email; fewer than 7 digits in a row: no phone number). Validation stays
Presidio's: Luhn for cards, the IBAN checksum, python-phonenumbers for phone numbers, SSN
pruning, the public-suffix check for email domains.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2
from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country

from glassline.redaction._literals import trie_pattern
from glassline.redaction._phone import PHONE_TRIGGER, PhoneCandidateRecognizer, phone_candidate
from glassline.redaction._secrets import build_secret_recognizers
from glassline.redaction._suffixes import PublicSuffixes

__all__ = ["NUMERIC_MIN_LEN", "Detector", "Gates", "build_detectors", "digit_clusters"]

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
# 4-4-4-4(-1..3) with one kind of separator, or Amex's 4-6-5.
_CARD_GROUPS = re.compile(r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{5}")


# Presidio's formats for these countries are shorter than the IBAN registry's (Portugal: 21
# characters for 25), so no account of theirs fullmatched and every one was stored as sent.
_REGISTRY_FORMATS = {
    "PT": r"PT\d{23}",
    "PS": r"PS\d{2}[A-Z]{4}[A-Z0-9]{21}",
    "QA": r"QA\d{2}[A-Z]{4}[A-Z0-9]{21}",
}
_IBAN_FORMATS = {
    country: re.compile(_REGISTRY_FORMATS.get(country, pattern))
    for country, pattern in regex_per_country.items()
}


class _IbanShapeRecognizer(IbanRecognizer):
    """Presidio's IBAN recognizer accepting the country's format without the mod-97 check.

    An account number with a mistyped check digit still identifies the account (secret
    scanners mask by shape, and so does a privacy filter that fails closed).
    """

    def validate_result(self, pattern_text: str) -> bool:
        iban = _NON_ALNUM.sub("", pattern_text).upper()
        country = _IBAN_FORMATS.get(iban[:2])
        return country is not None and country.fullmatch(iban) is not None


class _CardShapeRecognizer(CreditCardRecognizer):
    """Presidio's card recognizer; a number written in card groups needs no Luhn check.

    ``4111 1111 1111 1112`` is written as a card (a typo does not make it less of one); a bare
    digit run still needs Luhn, so order and account numbers survive.
    """

    def validate_result(self, pattern_text: str) -> bool:
        if _CARD_GROUPS.fullmatch(pattern_text.strip()):
            return True
        return super().validate_result(pattern_text)


# Japanese and Chinese text writes an address with no space around it ("メールはa@b.jpです").
# Presidio's pattern reads kana and Han as word characters, so the address grew into them and
# its domain ended in "jpです", no public suffix: it was stored as sent. This pattern finds an
# address touching such a character, and runs only on text holding one. Written for ``re``
# with single classes and possessive runs: Presidio's email pattern adapted (nested
# alternations, ``regex``) took ~450 ns a character, this ~35.
_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_LOCAL = rf"[^\s@\"(),:;<>\[\]\\{_CJK}]"
_DOMAIN_W = rf"[^\W{_CJK}]"
_ADDRESS = rf"{_LOCAL}++@{_DOMAIN_W}++(?:-+{_DOMAIN_W}++)*(?:\.{_DOMAIN_W}++(?:-+{_DOMAIN_W}++)*)+"
_EMAIL_BESIDE_CJK = re.compile(
    rf"[{_CJK}](?P<after>{_ADDRESS})(?!{_DOMAIN_W})|(?<!{_LOCAL})(?P<before>{_ADDRESS})(?=[{_CJK}])"
)


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer with its domain check against the suffix list bundled with
    tldextract (offline: tldextract's default extractor fetches the list over the network)."""

    def validate_result(self, pattern_text: str) -> bool:
        return PublicSuffixes.bundled().has_domain(pattern_text)


class _EmailRecognizer(_OfflineEmailRecognizer):
    """The offline email recognizer, and on text holding CJK the pattern for addresses
    written against it."""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        if text.isascii() or _CJK_CHAR.search(text) is None:
            return results
        found = {(r.start, r.end) for r in results}
        for match in _EMAIL_BESIDE_CJK.finditer(text):
            group = "after" if match.group("after") is not None else "before"
            span = match.span(group)
            if span not in found and self.validate_result(match.group(group)):
                results.append(RecognizerResult("EMAIL_ADDRESS", span[0], span[1], 0.5))
        return results


@dataclass(frozen=True, slots=True)
class Detector:
    """One Presidio recognizer for one entity, and where in a text it is worth running."""

    entity: str
    recognizer: EntityRecognizer
    trigger: re.Pattern[str] | None  # None: the gate alone decides; the whole text is analysed
    margin: int  # context kept around each trigger hit
    gate: tuple[str, ...] = ()  # literals, one of which must occur in a text it analyses
    numeric: bool = False  # the trigger is only searched inside digit clusters
    # Phone windows stay tight (no growing to word boundaries) and are analysed one by one.
    per_window: bool = False
    accept: Callable[[str, int, int], bool] | None = None  # cheap veto on a trigger hit

    def windows(
        self,
        text: str,
        hits: Iterable[tuple[int, int]],
        covered: Sequence[tuple[int, int]] = (),
    ) -> list[tuple[int, int]]:
        """Merged ``(start, end)`` ranges of ``text`` the recognizer must see.

        ``hits`` are this detector's :meth:`hits_in` the text (ascending offsets into it);
        hits inside a ``covered`` span (already found by an earlier detector) are skipped.
        """
        if self.trigger is None:
            return [(0, len(text))]  # the hits are gate literals: the whole text is analysed
        if self.gate and not any(g in text for g in self.gate):
            return []
        merged: list[tuple[int, int]] = []
        for start, end in hits:
            if self.accept is not None and not self.accept(text, start, end):
                continue
            if any(a <= start and end <= b for a, b in covered):
                continue
            if self.per_window:
                lo, hi = max(0, start - self.margin), min(len(text), end + self.margin)
            else:
                lo = _snap_left(text, start - self.margin)
                hi = _snap_right(text, end + self.margin)
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return merged

    def hits_in(
        self, joined: str, clusters: Sequence[tuple[int, int]]
    ) -> Iterator[tuple[int, int]]:
        """Trigger hits in ``joined``, in ascending order (gate-only detectors: :class:`Gates`).

        ``joined`` is many texts joined by a separator no trigger can cross, so one C-speed
        scan serves the whole batch; ``clusters`` are its digit clusters.
        """
        if self.trigger is None:
            raise ValueError(f"the {self.entity} detector has no trigger; its gate is scanned")
        if self.gate and not any(g in joined for g in self.gate):
            return
        if not self.numeric:
            for hit in self.trigger.finditer(joined):
                yield hit.span()
            return
        for lo, hi in clusters:
            for hit in self.trigger.finditer(joined, lo, hi):
                yield hit.span()


class Gates:
    """The gate literals of every detector without a trigger, found in one scan of a text.

    About a hundred literals (key prefixes and credential keywords). ``re`` finds them all,
    overlapping ones included, with one trie-shaped regex; but it tries the trie at every
    position holding a literal's first letter, half of them in prose (``ecret``, ``oken``,
    ``assword``). So RE2, whose automaton reads each character once, first tells which chunks
    of the text hold a literal at all, and ``re`` scans only those.
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        gated = [(k, d.gate) for k, d in enumerate(detectors) if d.trigger is None and d.gate]
        literals = sorted({g for _, gate in gated for g in gate})
        self._pattern = re.compile(trie_pattern(literals)) if literals else None
        self._anywhere = re2.compile("|".join(map(re.escape, literals))) if literals else None
        self._longest = max(map(len, literals), default=0)
        # The scan reports the longest literal starting at a place; the detectors whose
        # literal is a prefix of it (that one included) hit there too ("sk-" in "sk-ant-").
        self._owners = {
            found: [k for k, gate in gated if any(found.startswith(g) for g in gate)]
            for found in literals
        }

    def scan(self, text: str) -> list[list[tuple[int, int]]]:
        """Per detector (by position), the ``(start, end)`` of its literals in ``text``."""
        out: list[list[tuple[int, int]]] = [[] for _ in self.detectors]
        if self._pattern is None:
            return out
        search, owners, anywhere = self._pattern.search, self._owners, self._anywhere
        size = len(text)
        for start in range(0, size, _CHUNK):
            end = min(size, start + _CHUNK)  # the literals starting here ...
            stop = min(size, end - 1 + self._longest)  # ... end by here
            first = _first(anywhere, text[start:stop])
            if first is None:
                continue
            hit = search(text, start + first, stop)
            while hit is not None and hit.start() < end:
                for k in owners[hit.group()]:
                    out[k].append(hit.span())
                hit = search(text, hit.start() + 1, stop)  # literals may overlap
        return out


# Characters RE2 checks a call: a call costs ~2 µs beside ~2 ns a character, and ``re`` scans
# a chunk from its first literal on (~70 µs at most), so text dense with literals ("token:
# ...") costs what ``re`` alone did, and other text a fifth to a tenth.
_CHUNK = 2048


def _first(anywhere: Any, piece: str) -> int | None:
    """Where RE2 first finds a literal in ``piece``; 0 when it cannot read it, None if none.

    RE2 reads UTF-8, in which a lone surrogate (a JSON escape such as ``\\ud800``, parsed)
    cannot be written: ``re`` then scans that chunk whole.
    """
    try:
        found = anywhere.search(piece)
    except UnicodeEncodeError:
        return 0
    return None if found is None else int(found.start())


# Runs of 4+ digits with at most two separator characters between consecutive digits: every
# card, SSN, phone number, IPv4 address and IBAN body lies inside one, and every numeric
# trigger needs NUMERIC_MIN_LEN characters of one ("1.1.1.1"). The numeric triggers then
# only look inside the clusters that long (scanning 1 KB costs ~25 us per pattern).
DIGIT_CLUSTER = re.compile(r"\d(?:[ \-./()\u00a0]{0,2}\d){3,}")
NUMERIC_MIN_LEN = 7
# ASCII digits -> "0", every other byte -> ".": digits are then found with ``bytes.find``.
_DIGIT_MASK = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))


def digit_clusters(text: str) -> list[tuple[int, int]]:
    """The spans of :data:`DIGIT_CLUSTER` in ``text`` at least NUMERIC_MIN_LEN long.

    ``re`` tries a pattern that starts with ``\\d`` at every character (~10 ns each); in ASCII
    text the digits are found at ``memchr`` speed instead and the pattern is only tried where a
    run of digits starts. Other text (where ``\\d`` also means Arabic or fullwidth digits)
    takes the plain scan.
    """
    if not text.isascii():
        spans = (m.span() for m in DIGIT_CLUSTER.finditer(text))
        return [(a, b) for a, b in spans if b - a >= NUMERIC_MIN_LEN]
    mask = text.encode("ascii").translate(_DIGIT_MASK)
    find, match = mask.find, DIGIT_CLUSTER.match
    out = []
    start = find(b"0")
    while start >= 0:
        m = match(text, start)
        if m is None:  # fewer than 4 digits: no later digit of this run starts a cluster either
            end = find(b".", start)
            if end < 0:
                break
        else:
            end = m.end()
            if end - start >= NUMERIC_MIN_LEN:
                out.append((start, end))
        start = find(b"0", end)
    return out


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


# (entity, trigger, margin, numeric, gate); each trigger matches a superset of what its
# recognizer can find. IBAN: every BBAN holds 7+ digits in a row; the country code and check
# digits sit within the 48 characters of margin.
_PII_TRIGGERS: tuple[tuple[str, str | None, int, bool, tuple[str, ...]], ...] = (
    ("EMAIL_ADDRESS", r"@", 0, False, ("@",)),
    ("CREDIT_CARD", r"\d(?:[ -]?\d){11,18}", 4, True, ()),
    ("IBAN_CODE", r"\d(?:[ -]?\d){6,}", 48, True, ()),
    ("US_SSN", r"\d{3}[- .]?\d{2}[- .]?\d{4}|\d{5}-\d{4}|\d{3}-\d{6}", 4, True, ()),
    ("IP_ADDRESS", r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", 8, True, ()),
    # IPv6 has "::" or 7 colons, so ":g:g:" (three colons) - never a clock time like 12:33:01.
    # The literal first character lets ``re`` skip ahead at C speed.
    ("IP_ADDRESS", r":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)", 40, False, (":",)),
    ("PHONE_NUMBER", PHONE_TRIGGER, 3, True, ()),
)


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


def _pii_recognizers(phone_regions: Iterable[str]) -> dict[str, EntityRecognizer]:
    return {
        "EMAIL_ADDRESS": _EmailRecognizer(),
        "PHONE_NUMBER": PhoneCandidateRecognizer(supported_regions=tuple(phone_regions)),
        "CREDIT_CARD": _CardShapeRecognizer(
            patterns=[*CreditCardRecognizer.PATTERNS, *_EXTRA_CARD_PATTERNS]
        ),
        "IBAN_CODE": _IbanShapeRecognizer(),
        "US_SSN": UsSsnRecognizer(),
        "IP_ADDRESS": IpRecognizer(),
    }


def build_detectors(entities: Iterable[str], phone_regions: Iterable[str]) -> list[Detector]:
    """Detectors for the pattern-based ``entities`` (NER entities are handled elsewhere)."""
    wanted = set(entities)
    recognizers = _pii_recognizers(phone_regions)
    detectors = []
    for entity, trigger, margin, numeric, gate in _PII_TRIGGERS:
        if entity not in wanted:
            continue
        compiled = re.compile(trigger) if trigger else None
        phone = entity == "PHONE_NUMBER"
        accept = phone_candidate if phone else None
        detectors.append(
            Detector(entity, recognizers[entity], compiled, margin, gate, numeric, phone, accept)
        )
    for recognizer, gate in build_secret_recognizers():
        entity = recognizer.supported_entities[0]
        if entity in wanted:
            detectors.append(Detector(entity, recognizer, None, 0, gate))
    # Phone numbers last: their validation is the costly one, and digit runs already found
    # as a checksummed card, an IBAN, an SSN or inside a secret need not be tried.
    detectors.sort(key=lambda d: d.per_window)
    for detector in detectors:
        detector.recognizer.load()
    return detectors
