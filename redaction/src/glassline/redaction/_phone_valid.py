"""``phonenumbers.is_valid_number``, with each region's type patterns tried as one regex.

``is_valid_number`` finds the number's region, then asks whether the national significant
number fits the region's general description and then any of its ten type descriptions
(premium rate, toll free, ..., fixed line, mobile), each a length check and a regex: twenty
regex calls for a US number, a third of the phone recognizer's time on a text with one
number. Validity does not depend on which type fits, so here the type patterns that allow a
length are joined into one alternation per region and length (a full match of ``A|B`` is a
full match of ``A`` or of ``B``), built on first use. ``tests/redaction/test_phone_valid.py``
holds the answers equal to ``phonenumbers.is_valid_number``'s.
"""

from __future__ import annotations

import re

from phonenumbers import PhoneMetadata, PhoneNumber, national_significant_number
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

_NON_GEO = "001"  # phonenumbers' REGION_CODE_FOR_NON_GEO_ENTITY

__all__ = ["is_valid_number"]

_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line",
)  # fmt: skip
_NEVER = re.compile(r"(?!)")


class _Types:
    """One region's general description and its type patterns joined per length."""

    __slots__ = ("general", "joined", "lengths", "metadata")

    def __init__(self, metadata: PhoneMetadata) -> None:
        self.metadata = metadata  # kept alive: its id is the key of this entry
        general = metadata.general_desc
        pattern = general.national_number_pattern if general is not None else None
        self.general = re.compile(pattern) if pattern else None
        self.lengths = frozenset(general.possible_length) if general is not None else frozenset()
        self.joined: dict[int, re.Pattern[str]] = {}

    def fit(self, nsn: str) -> bool:
        """``_number_type_helper(nsn, metadata) != PhoneNumberType.UNKNOWN``."""
        if self.general is None or (self.lengths and len(nsn) not in self.lengths):
            return False
        if self.general.fullmatch(nsn) is None:
            return False
        joined = self.joined.get(len(nsn))
        if joined is None:
            joined = self.joined[len(nsn)] = _join(self.metadata, len(nsn))
        return joined.fullmatch(nsn) is not None


# Per region's metadata (by id): a few hundred regions at most, each with a dozen lengths.
_TYPES_OF: dict[int, _Types] = {}


def is_valid_number(number: PhoneNumber) -> bool:
    """What ``phonenumbers.is_valid_number(number)`` answers."""
    code = number.country_code
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code) if code is not None else None
    if code is None or regions is None:
        return False
    nsn = national_significant_number(number)
    region = regions[0] if len(regions) == 1 else _region_of(nsn, regions)
    if region is None:
        return False
    if region == _NON_GEO:
        metadata = PhoneMetadata.metadata_for_nongeo_region(code, None)
    else:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is not None and metadata.country_code != code:
            return False
    return metadata is not None and _fits_a_type(nsn, metadata)


def _region_of(nsn: str, regions: tuple[str, ...]) -> str | None:
    """``phonenumbers``' ``_region_code_for_number_from_list``."""
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, nsn):
                return region
        elif _fits_a_type(nsn, metadata):
            return region
    return None


def _fits_a_type(nsn: str, metadata: PhoneMetadata) -> bool:
    types = _TYPES_OF.get(id(metadata))
    if types is None or types.metadata is not metadata:
        types = _TYPES_OF[id(metadata)] = _Types(metadata)
    return types.fit(nsn)


def _join(metadata: PhoneMetadata, length: int) -> re.Pattern[str]:
    """The type patterns of ``metadata`` that allow ``length`` digits, as one alternation."""
    names = list(_TYPES)
    # The helper tries mobile only where its pattern differs from the fixed line's.
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append("mobile")
    patterns = []
    for name in names:
        desc = getattr(metadata, name)
        if desc is None or not desc.national_number_pattern:
            continue
        if desc.possible_length and length not in desc.possible_length:
            continue
        patterns.append(f"(?:{desc.national_number_pattern})")
    return re.compile("|".join(patterns)) if patterns else _NEVER
