"""The names detector's scans, written for speed, find what their plain forms find."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassline.redaction import Redactor, _names

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


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # JSON and key=value pairs in text that is not parsed (a stack trace, a log line)
        ('RuntimeError: {"first_name": "Funmilayo", "last_name": "Adeyemi"}', "Funmilayo"),
        ('RuntimeError: {"first_name": "Funmilayo", "last_name": "Adeyemi"}', "Adeyemi"),
        ("payload={'full_name': 'Nour Haddad', 'tier': 'gold'}", "Nour Haddad"),
        ('body: {\\"last_name\\": \\"Okonkwo\\"}', "Okonkwo"),
        ("WARN sync failed last_name=Kowalczyk id=4", "Kowalczyk"),
        # a transcript's role label
        ("[10:41] Agent (Mohammed): Sorry to hear that!", "Mohammed"),
        # a capitalised particle inside a name; a surname that is a stop word elsewhere
        ("From: Khalid Al Mansouri <k@example.com>", "Khalid Al Mansouri"),
        ("Reported by: Omar El Sayed", "Omar El Sayed"),
        ("Li Qiang approved the refund", "Li Qiang"),
        # a Japanese name followed by kana, not by a space or an honorific
        ("お世話になっております。藤原 七夏です。", "藤原 七夏"),
    ],
)
def test_names_the_traffic_corpus_found_stored_as_sent(text: str, name: str) -> None:
    out = Redactor().redact_many([text], free_text=True)[0].text
    assert name not in out, out


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("the agent Planner calls the Search tool", "Planner"),  # "agent" counts before "("
        ("Agent Builder (beta) is out", "Builder"),
        ("first_name is required", "first_name is required"),
        ("read the Al Jazeera story", "Al Jazeera"),
    ],
)
def test_the_new_cues_and_particles_leave_other_words_alone(text: str, kept: str) -> None:
    assert kept in Redactor().redact_many([text], free_text=True)[0].text
