"""Literal scans: the trie-shaped regex and the one-pass gate scan equal their plain forms."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from glassline.redaction._literals import trie_pattern
from glassline.redaction._recognizers import _CHUNK, Gates, build_detectors

_LITERALS = st.lists(st.text(alphabet="abc-", min_size=1, max_size=4), min_size=1, max_size=8)


def _flat(literals: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, sorted(set(literals), key=len, reverse=True))))


@given(_LITERALS, st.text(alphabet="abc- ", max_size=60))
def test_trie_finds_what_the_longest_first_alternation_finds(
    literals: list[str], text: str
) -> None:
    trie = re.compile(trie_pattern(literals))
    assert [m.span() for m in trie.finditer(text)] == [
        m.span() for m in _flat(literals).finditer(text)
    ]


def test_trie_rejects_an_empty_literal() -> None:
    try:
        trie_pattern(["a", ""])
    except ValueError:
        return
    raise AssertionError("an empty literal was accepted")


_SECRETS = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "SECRET"]
_DETECTORS = build_detectors([*_SECRETS, "EMAIL_ADDRESS"], ["US"])
# Pieces of the gate literals, so that random text holds them, overlapping and nested.
_PIECES = st.sampled_from(
    [
        "sk-",
        "ant-",
        "AKIA",
        "ASIA",
        "ecret",
        "ECRET",
        "oken",
        ": ",
        "=",
        "t",
        "p",
        "assword",
        "x",
        " ",
        "@",
        "é",  # RE2 reads UTF-8: its offsets are turned back into characters
        "\ud800",  # a lone surrogate has no UTF-8 form: re scans that chunk whole
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
@example("AKIASIA, my ECRET=oken: sk-ant-")  # overlapping literals: AKIA and ASIA share an A
def test_gate_scan_finds_every_place_of_every_literal(text: str) -> None:
    _assert_every_place(text)


@pytest.mark.parametrize("offset", range(-8, 3))
def test_gate_scan_finds_literals_across_its_chunks(offset: int) -> None:
    # RE2 checks the text chunk by chunk: a literal may start in one and end in the next.
    for literal in ("AKIASIA", "sk-ant-", "password: "):
        _assert_every_place("x" * (_CHUNK + offset) + literal + " " * 3)
        _assert_every_place("x" * (2 * _CHUNK + offset) + literal)


def _assert_every_place(text: str) -> None:
    scanned = Gates(_DETECTORS).scan(text)
    for k, detector in enumerate(_DETECTORS):
        if detector.trigger is not None:
            assert scanned[k] == []  # triggers are searched, not scanned
            continue
        expected = sorted(
            {i for g in detector.gate for i in range(len(text)) if text.startswith(g, i)}
        )
        assert [start for start, _ in scanned[k]] == expected
