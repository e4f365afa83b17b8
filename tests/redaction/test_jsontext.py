"""jsontext.py: client JSON is data when it parses and nests at most MAX_NESTING deep;
anything else is a ValueError, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from glassline.redaction import jsontext


def nested(depth: int, leaf: object = "x") -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def test_json_within_the_nesting_limit_is_parsed() -> None:
    assert jsontext.parse('{"role": "user", "parts": [{"content": "hi"}]}') == {
        "role": "user",
        "parts": [{"content": "hi"}],
    }
    assert jsontext.parse(nested(jsontext.MAX_NESTING - 1)) == json.loads(
        nested(jsontext.MAX_NESTING - 1)
    )
    # Many brackets, little depth: inside strings, or side by side.
    assert jsontext.parse(json.dumps("[" * 500)) == "[" * 500
    assert jsontext.parse(json.dumps([[n] for n in range(500)]))[499] == [499]


@pytest.mark.parametrize("depth", [jsontext.MAX_NESTING + 1, 600, 5_000])
def test_json_nested_deeper_is_not_json(depth: int) -> None:
    with pytest.raises(ValueError, match=r"nested|depth"):
        jsontext.parse(nested(depth))
    with pytest.raises(ValueError, match=r"nested|depth"):
        jsontext.parse('{"a":' * depth + "1" + "}" * depth)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[1,",
        "{'a': 1}",
        "[NaN]",
        '{"a": -Infinity}',
        "[NaN, 12345678901234567890]",  # read by json.loads: as strict
        '["\\ud800"]',  # an escaped lone surrogate
        '["\ud800 lone"]',
    ],
)
def test_malformed_json_is_not_json(text: str) -> None:
    with pytest.raises(ValueError):
        jsontext.parse(text)


@pytest.mark.parametrize(
    "number", [2**63 - 1, -(2**63), 2**64 - 1, -(2**63) - 1, 2**64, 12345678901234567890123]
)
def test_integers_keep_every_digit(number: int) -> None:
    # Card and account numbers sent as JSON numbers: redaction analyses their digits.
    assert jsontext.parse(f'{{"card": {number}, "n": 1.5}}') == {"card": number, "n": 1.5}
