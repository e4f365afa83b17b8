"""Which regions' ``phonenumbers.parse`` can still validate a candidate: a cheap, exact veto.

``PhoneNumberMatcher(text, region)`` finds the same candidates for every region; the region
only enters through ``parse(candidate, region)`` and the validity check after it, ~10-15 us a
candidate. A candidate written as national digits (digits and plain separators: no ``+``, no
letters, no extension mark) parses to a number of the region's own country code whose
national significant number is the digit string minus what ``parse`` strips in front of it:
the country code's digits and the national prefix (and carrier code), by the region's and the
country's own rules. Valid means that number fits the general description (pattern and
possible lengths) of one region of that country code. So the veto computes every string
``parse`` could keep, with phonenumbers' own stripping function, and asks the country's
general descriptions; if none fits, parse-and-verify would return nothing, and is skipped.
Anything else (a ``+``, the region's international dialling prefix, letters, extensions, a
leniency below VALID) goes to ``parse`` as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneMetadata
from phonenumbers import phonenumbermatcher as _matcher
from phonenumbers.phonenumbermatcher import (
    _LEAD_PATTERN,
    _MATCHING_BRACKETS,
    _PUB_PAGES,
    _contains_only_valid_x_chars,
    _is_national_prefix_present_if_required,
)
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    _maybe_strip_national_prefix_carrier_code,
)

from glassline.redaction._phone_valid import is_valid_number

__all__ = ["GatedMatcher", "RegionGate"]

# Characters of a candidate the veto understands: ASCII digits and separators that neither
# parse nor its extension patterns read as anything (no "+", letters, "#", "~", ",", ";").
_PLAIN = frozenset("0123456789 -./()\u00a0\t")
_DEPTH = 4  # strips parse can chain: country code, then the national prefix twice


@dataclass(frozen=True, slots=True)
class RegionGate:
    """What ``parse(candidate, region)`` needs to know about one region, precomputed."""

    # The region's own plan and its country code's main region's, which parse strips with too
    # (one plan when they are the same).
    plans: tuple[PhoneMetadata, ...]
    country_code: str
    idd: re.Pattern[str] | None
    fits: re.Pattern[str]  # any general description of the country code's regions
    lengths: frozenset[int]

    @staticmethod
    @cache
    def of(region: str) -> RegionGate:
        """The gate of ``region`` (an ISO code phonenumbers supports)."""
        metadata = _metadata(region)
        code = int(metadata.country_code or 0)
        regions = COUNTRY_CODE_TO_REGION_CODE[code]
        descs = [d for d in (_metadata(r).general_desc for r in regions) if d is not None]
        patterns = [d.national_number_pattern for d in descs if d.national_number_pattern]
        # A description without lengths checks none: its pattern alone decides.
        unbounded = not all(d.possible_length for d in descs)
        idd = metadata.international_prefix
        main = _metadata(regions[0])
        return RegionGate(
            plans=(metadata,) if main is metadata else (metadata, main),
            country_code=str(code),
            idd=re.compile(idd) if idd else None,
            fits=re.compile("|".join(f"(?:{p})" for p in patterns)),
            lengths=frozenset(
                range(1, 18) if unbounded else (n for d in descs for n in d.possible_length)
            ),
        )

    def may_validate(self, candidate: str) -> bool:
        """False only if ``parse(candidate, region)`` cannot give a valid number."""
        if not _PLAIN.issuperset(candidate):
            return True
        digits = "".join(c for c in candidate if c.isdigit())
        if self.idd is not None and self.idd.match(digits):
            return True  # an international dialling prefix: any country code may follow
        return any(
            len(kept) in self.lengths and self.fits.fullmatch(kept) for kept in self._kept(digits)
        )

    def _kept(self, digits: str) -> set[str]:
        # Every national significant number parse could keep: strip the country code and the
        # national prefix in any order, up to _DEPTH times (a superset of what it does).
        seen = {digits}
        frontier = [digits]
        for _ in range(_DEPTH):
            following = []
            for number in frontier:
                nexts = [
                    _maybe_strip_national_prefix_carrier_code(number, m)[1] for m in self.plans
                ]
                if number.startswith(self.country_code):
                    nexts.append(number[len(self.country_code) :])
                following += [n for n in nexts if n not in seen]
                seen.update(nexts)
            frontier = following
        return seen


def _metadata(region: str) -> PhoneMetadata:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        raise ValueError(f"no phone metadata for region {region!r}")
    return metadata


class GatedMatcher(phonenumbers.PhoneNumberMatcher):
    """``PhoneNumberMatcher`` that skips parsing the candidates its region cannot validate,
    and validates the others with :func:`._phone_valid.is_valid_number`.

    Finds exactly what ``PhoneNumberMatcher`` finds: a skipped candidate is one its
    ``_parse_and_verify`` would have rejected, and the validity check gives the same answers.
    """

    def __init__(self, text: str, region: str, leniency: int) -> None:
        super().__init__(text, region, leniency=leniency)
        # Below VALID (POSSIBLE) a number need not fit any description: no veto.
        self._gate = RegionGate.of(region) if leniency >= phonenumbers.Leniency.VALID else None

    def _parse_and_verify(
        self, candidate: str, offset: int
    ) -> phonenumbers.PhoneNumberMatch | None:
        if self._gate is not None and not self._gate.may_validate(candidate):
            return None
        if self.leniency != phonenumbers.Leniency.VALID:
            return super()._parse_and_verify(candidate, offset)
        return self._parse_and_verify_valid(candidate, offset)

    def _parse_and_verify_valid(
        self, candidate: str, offset: int
    ) -> phonenumbers.PhoneNumberMatch | None:
        """phonenumbers 9's ``_parse_and_verify`` at leniency VALID, step for step."""
        if not _MATCHING_BRACKETS.fullmatch(candidate) or _PUB_PAGES.search(candidate):
            return None
        text = self.text
        if offset > 0 and not _LEAD_PATTERN.match(candidate):
            previous = text[offset - 1]
            if self._is_invalid_punctuation_symbol(previous) or self._is_latin_letter(previous):
                return None
        end = offset + len(candidate)
        if end < len(text):
            following = text[end]
            if self._is_invalid_punctuation_symbol(following) or self._is_latin_letter(following):
                return None
        try:  # as the library: a parse error anywhere rejects the candidate
            # The matcher module's parse, as the library calls it (test_phone_work counts it).
            number = _matcher.parse(  # type: ignore[attr-defined]
                candidate, self.preferred_region, keep_raw_input=True
            )
            valid = (
                is_valid_number(number)
                and _contains_only_valid_x_chars(number, candidate)
                and _is_national_prefix_present_if_required(number)
            )
        except NumberParseException:
            return None
        if not valid:
            return None
        number.country_code_source = CountryCodeSource.UNSPECIFIED
        number.raw_input = None
        number.preferred_domestic_carrier_code = None
        return phonenumbers.PhoneNumberMatch(offset, candidate, number)
