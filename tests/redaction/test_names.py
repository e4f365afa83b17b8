"""The names detector's scans, written for speed, find what their plain forms find."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from glassline.redaction import _names

# The plain forms: a capitalised word with its optional prefix written first, and the word
# boundary as a lookbehind before it (``re`` tries these at every character).
_PLAIN_WORD = (
    rf"(?:(?:Mc|Mac|O[{_names._APOSTROPHES}]|D[{_names._APOSTROPHES}])?{_names._UP}{_names._LO}+"
    rf"(?:[-{_names._APOSTROPHES}]{_names._UP}{_names._LO}+)*)(?![\w@.][^\W\d_])"
)
_PLAIN_SEQUENCE = re.compile(rf"(?<![\w@./\\-]){_PLAIN_WORD}(?:{_names._NEXT}){{1,4}}")
_CUES = _names._PHRASES + tuple(t.lower() for t in _names._TITLES)
_PLAIN_CUE_AT = re.compile(
    rf"(?<![^\W_])(?:{'|'.join(map(re.escape, sorted(_CUES, key=len, reverse=True)))})(?![^\W_])"
)
# Letters, prefixes and separators the patterns care about.
_PIECES = st.sampled_from(
    ["Mc", "Mac", "O'", "D\u2019", "Anna", "Lee", "Ng", "van", "de", "an", "x", "é", "É", " ", "\t",
     "\n", "-", ".", "@", "/", "_", "1", "dear", "hi", "Dr", "mr", "thank you", "i'm", "sou", "eu"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=16).map("".join))
def test_sequence_scan_equals_the_plain_pattern(text: str) -> None:
    fast = [m.span() for m in _names._SEQUENCE.finditer(text)]
    assert fast == [m.span() for m in _PLAIN_SEQUENCE.finditer(text)]


@given(st.lists(_PIECES, max_size=16).map("".join))
def test_cue_scan_equals_the_plain_pattern(text: str) -> None:
    low = text.lower()
    fast = [(m.start("cue") - 1, m.end() - 1) for m in _names._CUE_AT.finditer(" " + low)]
    assert fast == [m.span() for m in _PLAIN_CUE_AT.finditer(low)]


@given(st.text(st.characters(max_codepoint=127)) | st.lists(_PIECES, max_size=16).map("".join))
def test_gate_on_ascii_text_equals_the_gate_pattern(text: str) -> None:
    # ASCII text takes a bytes fast path; everything else the pattern itself.
    expected = _names._GATE.search(text) is not None
    assert _names.NameDetector().may_find(text) is expected


def test_gate_on_every_pair_of_ascii_characters_equals_the_gate_pattern() -> None:
    detector = _names.NameDetector()
    pairs = [chr(a) + chr(b) for a in range(128) for b in range(128)]
    assert [detector.may_find(p) for p in pairs] == [
        _names._GATE.search(p) is not None for p in pairs
    ]


def test_cjk_names_are_found_only_where_their_characters_are() -> None:
    detector = _names.NameDetector()
    assert detector.find("お問い合わせ: 山田 太郎さん", _names.MODE_FULL) == [(8, 13)]
    assert detector.find("Ünïcödé text, no Han at all", _names.MODE_FULL) == []
