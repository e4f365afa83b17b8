"""The JSON columns' text: orjson's speed, json.dumps' meaning for every value it can meet."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from glassline.collector.storage import _json

SAME_AS_JSON_DUMPS = [
    {"gen_ai.input.messages": '[{"role": "user"}]', "n": 3, "x": 0.1, "ok": True},
    {"nested": {"list": [1, 2.5, "three", None, False]}},
    {"unicode": "é ü € 😀 \u2028", "ctrl": "a\x00b\x1f"},
    {"big": 1e16, "small": 5e-324, "neg": -0.0},
    {"int64": 2**63 - 1, "uint64": 2**64 - 1, "min": -(2**63)},
    {"x": (1, 2)},
    None,
    "null",
    [],
    {},
]
# Where orjson would write something else (or refuse): json.dumps writes it, as before.
DIFFERENT_IN_ORJSON = [
    {"nan": math.nan},
    {"inf": [math.inf, -math.inf]},
    {1: "int key", None: "none key", 2.5: "float key"},
    {"huge": 2**70},
    {"surrogate": "\ud800"},
    {"text": "a null inside a string"},
]


@pytest.mark.parametrize("value", SAME_AS_JSON_DUMPS + DIFFERENT_IN_ORJSON)
def test_text_reads_back_as_json_dumps_text_does(value: Any) -> None:
    text = _json.dumps(value)
    assert isinstance(text, str)
    expected = json.loads(json.dumps(value))
    if value == {"nan": math.nan}:
        assert math.isnan(json.loads(text)["nan"])
    else:
        assert json.loads(text) == expected


@pytest.mark.parametrize("value", DIFFERENT_IN_ORJSON)
def test_values_orjson_would_change_are_written_by_json_dumps(value: Any) -> None:
    assert _json.dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", [{"x": b"raw"}, {"x": object()}, {"x": {1, 2}}])
def test_values_json_dumps_refuses_are_still_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        _json.dumps(value)
