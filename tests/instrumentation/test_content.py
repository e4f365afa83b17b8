"""Content capture: the one-pass paths for plain chat messages equal the general ones."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from glassline.instrumentation import _content
from glassline.instrumentation._settings import Settings
from glassline.semconv import attributes as a

LIMIT = 40
texts = st.text(max_size=LIMIT + 5)
messages = st.lists(st.fixed_dictionaries({"role": texts, "content": texts}), max_size=4)


def general_input(kwargs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clean = _content.Texts(settings)
    encoded = _content.input_messages_json(kwargs, clean)
    if encoded is not None:
        _content.put_json(out, a.GEN_AI_INPUT_MESSAGES, encoded, clean)
    return out


def general_output(text: list[str], reasons: list[str], settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clean = _content.Texts(settings)
    encoded = _content.output_messages_json(text, [], reasons, clean)
    _content.put_json(out, a.GEN_AI_OUTPUT_MESSAGES, encoded, clean)
    return out


@given(messages)
def test_plain_chat_messages_are_written_as_the_general_path_writes_them(
    batch: list[dict[str, str]],
) -> None:
    settings = Settings(max_content_chars=LIMIT)
    out: dict[str, Any] = {}
    _content.put_input_messages(out, {"messages": batch}, settings)
    assert out == general_input({"messages": batch}, settings)
    json.loads(out[a.GEN_AI_INPUT_MESSAGES])  # valid JSON either way


@given(st.lists(texts, max_size=3), st.lists(st.sampled_from(["stop", "length"]), max_size=2))
def test_a_text_answer_is_written_as_the_general_path_writes_it(
    text: list[str], reasons: list[str]
) -> None:
    settings = Settings(max_content_chars=LIMIT)
    out: dict[str, Any] = {}
    _content.put_output_messages(out, text, [], reasons, settings)
    assert out == general_output(text, reasons, settings)
    json.loads(out[a.GEN_AI_OUTPUT_MESSAGES])


def test_a_message_over_the_limit_is_cut_with_its_original_length() -> None:
    settings = Settings(max_content_chars=LIMIT)
    out: dict[str, Any] = {}
    batch = [{"role": "user", "content": "x" * LIMIT}, {"role": "user", "content": "y" * 41}]
    _content.put_input_messages(out, {"messages": batch}, settings)
    parsed = json.loads(out[a.GEN_AI_INPUT_MESSAGES])
    assert [m["parts"][0]["content"] for m in parsed] == ["x" * LIMIT, "y" * LIMIT]
    assert out[a.TRUNCATED_PREFIX + a.GEN_AI_INPUT_MESSAGES] == 81


def test_a_redactor_sees_every_text_of_plain_messages() -> None:
    settings = Settings(redactor=lambda t: t.replace("alice", "<PERSON>"))
    out: dict[str, Any] = {}
    _content.put_input_messages(
        out, {"messages": [{"role": "user", "content": "hi alice"}]}, settings
    )
    _content.put_output_messages(out, ["bye alice"], [], ["stop"], settings)
    assert "alice" not in str(out) and str(out).count("<PERSON>") == 2
