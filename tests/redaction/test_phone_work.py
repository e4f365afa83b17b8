"""The phone recognizer's work on national-format numbers, counted, never timed.

Work is calls of ``phonenumbers.parse`` made by the matchers (each ~10-15 us; the rest of a
matcher run is a regex scan). A region whose numbering plan cannot hold a national-format
candidate does not parse it.
"""

from __future__ import annotations

import phonenumbers.phonenumbermatcher as matcher_module
import pytest

from glassline.redaction._phone import PhoneCandidateRecognizer
from glassline.redaction.config import DEFAULT_PHONE_REGIONS


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The regions ``phonenumbers.parse`` is called with by any matcher."""
    calls: list[str] = []
    parse = matcher_module.parse

    def counting(number: str, region: str | None = None, **kw: object) -> object:
        calls.append(str(region))
        return parse(number, region, **kw)

    monkeypatch.setattr(matcher_module, "parse", counting)
    return calls


# (window, whether it is a phone number, parse calls at most): f63eab0 made 7, 13, 19, 21, 20,
# 22 and 39 (each region before the one that validates parsed the candidate and its groups).
@pytest.mark.parametrize(
    ("window", "found", "at_most"),
    [
        ("el: 030 1234567.", True, 1),
        ("el: 06 12 34 56 78.", True, 1),
        ("el: 01 23 45 67 89.", True, 3),
        ("el: 91 123 45 67.", True, 3),
        ("el: (11) 91234-5678.", True, 5),
        ("el: 98765 43210.", True, 6),
        ("order 20231104 0017.", False, 11),
    ],
)
def test_a_national_number_is_parsed_only_by_regions_that_can_hold_it(
    window: str, found: bool, at_most: int, parses: list[str]
) -> None:
    recognizer = PhoneCandidateRecognizer(supported_regions=DEFAULT_PHONE_REGIONS)
    assert bool(recognizer.analyze(window, ["PHONE_NUMBER"])) is found
    assert 1 <= len(parses) <= at_most, parses
