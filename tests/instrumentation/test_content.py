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


# --- the templates: every writer's JSON is exactly json.dumps of the convention's structure ---

roles = st.text(min_size=1, max_size=10)
reasons_lists = st.lists(st.text(max_size=8), max_size=2)
NO_LIMIT = Settings(max_content_chars=10_000)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text_part(text: str) -> dict[str, str]:
    return {"type": "text", "content": text}


@given(st.lists(st.tuples(roles, texts), max_size=4))
def test_plain_messages_round_trip(pairs: list[tuple[str, str]]) -> None:
    messages = [{"role": role, "content": content} for role, content in pairs]
    expected = [{"role": role, "parts": [_text_part(content)]} for role, content in pairs]
    assert _content.plain_messages_json(messages, 10_000) == _dumps(expected)


@given(st.lists(st.tuples(st.one_of(st.none(), roles), st.lists(texts, max_size=2)), max_size=3))
def test_input_messages_with_parts_round_trip(pairs: list[tuple[str | None, list[str]]]) -> None:
    messages = [
        {
            "role": role,
            "content": [{"type": "text", "text": t} for t in parts] + [{"type": "image"}],
        }
        for role, parts in pairs
    ]
    expected = [
        {"role": role or "user", "parts": [*map(_text_part, parts), {"type": "image"}]}
        for role, parts in pairs
    ]
    encoded = _content.input_messages_json({"messages": messages}, _content.Texts(NO_LIMIT))
    assert encoded == _dumps(expected)
    prompt = _content.input_messages_json({"prompt": "hi"}, _content.Texts(NO_LIMIT))
    assert prompt == _dumps([{"role": "user", "parts": [_text_part("hi")]}])


@given(st.one_of(st.none(), texts), reasons_lists)
def test_assistant_text_message_round_trips(text: str | None, reasons: list[str]) -> None:
    message: dict[str, Any] = {
        "role": "assistant",
        "parts": [] if text is None else [_text_part(text)],
    }
    if reasons:
        message["finish_reason"] = reasons[-1]
    assert _content.text_message_json(text, reasons) == _dumps([message])


def test_tool_call_messages_use_the_general_encoder() -> None:
    encoded = _content.output_messages_json(
        ["ok"], [{"id": 7, "name": "search", "arguments": {"q": "é"}}], ["tool_calls"],
        _content.Texts(NO_LIMIT),
    )  # fmt: skip
    assert json.loads(encoded) == [
        {
            "role": "assistant",
            "parts": [
                _text_part("ok"),
                {"type": "tool_call", "id": 7, "name": "search", "arguments": '{"q": "é"}'},
            ],
            "finish_reason": "tool_calls",
        }
    ]
