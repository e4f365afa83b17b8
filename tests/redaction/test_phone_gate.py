"""The phone recognizer's region veto: the same answers as python-phonenumbers, less parsing.

The oracle is what the recognizer means: ``phonenumbers.PhoneNumberMatcher`` run for every
region in order, the first region with a match giving the result. The work saved is counted
in test_phone_work.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType

from glassline.redaction._phone import PhoneCandidateRecognizer, _plausible
from glassline.redaction._phone_gate import GatedMatcher
from glassline.redaction.config import DEFAULT_PHONE_REGIONS

_LOCALES = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_IN", "en_CA", "pt_BR",
    "en_AU", "he_IL", "ja_JP", "de_AT", "de_CH", "pl_PL", "sv_SE", "da_DK", "pt_PT",
)  # fmt: skip
_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)
_FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)


def _example_numbers() -> Iterator[str]:
    # Every default region's example numbers in every format, and with their last digits
    # changed (still national-format, mostly no longer valid).
    for region in DEFAULT_PHONE_REGIONS:
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            for fmt in _FORMATS:
                text = phonenumbers.format_number(number, fmt)
                yield text
                yield text[:-2] + "00"
                yield "00" + text.lstrip("+") if text.startswith("+") else "0" + text


def _faker_numbers() -> Iterator[str]:
    for locale in _LOCALES:
        fake = Faker(locale)
        fake.seed_instance(11)
        for _ in range(25):
            yield fake.phone_number()


def _not_numbers() -> Iterator[str]:
    rng = random.Random(5)
    for _ in range(60):
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1990, 2030)
        yield f"{day:02d}.{month:02d}.{year} {rng.randint(10, 23)}:{rng.randint(10, 59)}"
        yield f"{year}-{month:02d}-{day:02d} {rng.randint(0, 99999999)}"
        yield f"ORD {rng.randint(10**6, 10**12)}"
        yield f"EUR {rng.randint(1000, 999999)}.{rng.randint(0, 99):02d}"
        yield f"{rng.randint(1, 9)}.{rng.randint(0, 999)}.{rng.randint(0, 999)} build {rng.randint(10**6, 10**9)}"
        yield f"id {rng.randint(10**6, 10**16)}"


_TEXTS = sorted(
    {f"Tel: {n}." for n in [*_example_numbers(), *_faker_numbers(), *_not_numbers()]}
    | {f"({n})" for n in _example_numbers()}
)


def _spans(matches: Iterator[phonenumbers.PhoneNumberMatch]) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in matches]


@pytest.mark.parametrize("region", DEFAULT_PHONE_REGIONS)
def test_the_gated_matcher_finds_what_the_matcher_finds(region: str) -> None:
    assert len(_TEXTS) > 1000
    for text in _TEXTS:
        expected = _spans(PhoneNumberMatcher(text, region, leniency=Leniency.VALID))
        assert _spans(GatedMatcher(text, region, Leniency.VALID)) == expected, (text, region)


# Digits, every separator the trigger allows, and what the veto leaves to parse: "+",
# an extension, letters, a non-ASCII digit.
_ALPHABET = "0000111223456789  -./()\u00a0+x#,;\u0663"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, min_size=7, max_size=22), st.sampled_from(DEFAULT_PHONE_REGIONS))
def test_the_gated_matcher_agrees_on_any_digit_string(text: str, region: str) -> None:
    expected = _spans(PhoneNumberMatcher(text, region, leniency=Leniency.VALID))
    assert _spans(GatedMatcher(text, region, Leniency.VALID)) == expected


def _oracle(text: str) -> list[tuple[int, int]]:
    # The recognizer's meaning: the first region (in order) whose matcher finds anything; a
    # window opening with "+" is read once. (Short numbers and epochs are then dropped.)
    regions = DEFAULT_PHONE_REGIONS
    if text.lstrip(" (\n\t").startswith("+"):
        regions = regions[:1]
    for region in regions:
        found = _spans(PhoneNumberMatcher(text, region, leniency=Leniency.VALID))
        if found:
            return found
    return []


def test_the_recognizer_answers_as_the_matcher_over_every_region() -> None:
    recognizer = PhoneCandidateRecognizer(supported_regions=DEFAULT_PHONE_REGIONS)
    for text in _TEXTS:
        got = [(r.start, r.end) for r in recognizer.analyze(text, ["PHONE_NUMBER"])]
        assert got == [(a, b) for a, b in _oracle(text) if _plausible(text[a:b])], text
