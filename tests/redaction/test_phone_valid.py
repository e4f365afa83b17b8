"""The phone validity check gives python-phonenumbers' answers, on every region's numbers.

The oracle is ``phonenumbers.is_valid_number``. The numbers: every supported region's and
non-geographic code's example number of every type, each with digits changed, cut and added,
and random digit strings parsed in each region (and with each country code), so that both
answers come up for every region's patterns and lengths.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from glassline.redaction._phone_valid import is_valid_number

_TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int)]


def _examples() -> Iterator[PhoneNumber]:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                yield number
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            yield number


def _variants(number: PhoneNumber, rng: random.Random) -> Iterator[str]:
    """The number in E.164, then with a digit changed, one cut off and one added."""
    text = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    yield text
    for _ in range(6):
        i = rng.randrange(len(str(number.country_code)) + 1, len(text))
        yield text[:i] + rng.choice("0123456789") + text[i + 1 :]
    yield text[:-1]
    yield text + rng.choice("0123456789")


def _parsed(text: str, region: str | None) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def test_every_example_number_and_its_variants_get_the_libraries_answer() -> None:
    rng = random.Random(5)
    checked = valid = 0
    for example in _examples():
        for text in _variants(example, rng):
            number = _parsed(text, None)
            if number is None:
                continue
            expected = phonenumbers.is_valid_number(number)
            assert is_valid_number(number) is expected, text
            checked += 1
            valid += expected
    assert checked > 5000 and 0.2 < valid / checked < 0.8  # both answers, many times


def test_random_national_digits_get_the_libraries_answer_in_every_region() -> None:
    rng = random.Random(7)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for _ in range(40):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 17)))
            number = _parsed(digits, region)
            if number is not None:
                assert is_valid_number(number) is phonenumbers.is_valid_number(number), (
                    region,
                    digits,
                )


@settings(max_examples=400, deadline=None)
@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    digits=st.text(alphabet="0123456789", min_size=2, max_size=17),
)
def test_any_international_number_gets_the_libraries_answer(code: int, digits: str) -> None:
    number = _parsed(f"+{code}{digits}", None)
    if number is not None:
        assert is_valid_number(number) is phonenumbers.is_valid_number(number)
