"""Response readers: dicts, other mappings, pydantic models and plain objects read alike."""

from __future__ import annotations

import json
from collections import UserDict
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from glassline.instrumentation import _extract
from glassline.instrumentation._extract import extract_response, get, view
from glassline.instrumentation._llm import response_attributes
from glassline.instrumentation._settings import Settings
from glassline.pricing import ModelPrice
from glassline.semconv import attributes as a


class ReadOnly(Mapping[str, Any]):
    """A mapping that is not a dict (as some SDKs hand back)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Usage(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    prompt_tokens: int


class Response(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    model: str
    usage: Usage


def response_of(kind: str) -> Any:
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "cache_read_input_tokens": 4}
    body = {"model": "m", "choices": [], "usage": usage}
    if kind == "mapping":
        return ReadOnly({**body, "usage": ReadOnly(usage)})
    if kind == "userdict":
        return UserDict({**body, "usage": UserDict(usage)})
    if kind == "pydantic":  # completion_tokens and the cache count are extras here
        return Response.model_validate({**body})
    return SimpleNamespace(**{**body, "usage": SimpleNamespace(**usage)})


@pytest.mark.parametrize("kind", ["mapping", "userdict", "pydantic", "object"])
def test_every_kind_of_response_is_read_the_same(kind: str) -> None:
    for _ in range(2):  # the second read goes through the per-type decision kept by the first
        info = extract_response(response_of(kind))
        assert (info.model, info.input_tokens, info.output_tokens, info.cache_read) == (
            "m",
            12,
            3,
            4,
        )


def test_pydantic_fields_and_extras_read_through_either_reader() -> None:
    usage = Usage.model_validate({"prompt_tokens": 5, "reasoning": 7})
    reader = view(usage)
    assert reader.get("prompt_tokens") == 5 and reader.get("reasoning") == 7
    assert get(usage, "reasoning") == 7 and get(usage, "absent") is None
    assert get(ReadOnly({"a": 1}), "a") == 1 and get(SimpleNamespace(a=2), "a") == 2


def test_the_per_type_decisions_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_extract, "_KINDS", {})
    monkeypatch.setattr(_extract, "_MAX_TYPES", 3)
    classes = [type(f"Made{i}", (), {"x": i}) for i in range(10)]  # classes made on the fly
    assert [get(cls(), "x") for cls in classes] == list(range(10))
    assert len(_extract._KINDS) == 3


class Delta(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    content: str | None = None


class Choice(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    delta: Delta
    finish_reason: str | None = None


class Chunk(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    model: str
    choices: list[Choice]


def folded(chunks: list[Any]) -> tuple[Any, ...]:
    acc = _extract.StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    info = acc.info
    return info.model, info.text, info.finish_reasons, info.output_tokens


def test_stream_chunks_as_pydantic_models_fold_like_dicts_with_or_without_extras() -> None:
    dicts = [
        {"model": "m", "choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
        {"model": "m", "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    # Extras where the reader must merge them: the text of a delta, the usage of a chunk.
    extras = [
        {"model": "m", "choices": [{"delta": {"text": "x", "content": "Hel"}}], "obfuscation": "a"},
        {"model": "m", "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop", "i": 0}]},
        {"model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    ]
    expected = ("m", ["Hel", "lo"], ["stop"], 2)
    for _ in range(2):  # the second pass reads through the per-type decisions of the first
        assert folded(dicts) == expected
        assert folded([Chunk.model_validate(c) for c in dicts]) == expected
        assert folded([Chunk.model_validate(c) for c in extras]) == expected


# Chat completions: one reader for dicts, the openai client's models and plain objects.

PRICED, UNPRICED = "gpt-4o-mini", "no-such-model-xyz"


def mostly(valid: st.SearchStrategy[Any], *odd: Any) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, else one of the ``odd`` values."""
    return st.sampled_from(range(10)).flatmap(lambda n: valid if n else st.sampled_from(odd))


counts = mostly(st.integers(0, 500), -1, None, True, "12")
texts = mostly(st.text(max_size=12), None, 3)


@st.composite
def completions(draw: st.DrawFn) -> dict[str, Any]:
    """OpenAI-shaped chat completions, each field now and then absent or of an odd type."""
    cached = draw(counts)
    details = {"cached_tokens": cached} | draw(mostly(st.just({}), {"cache_creation_tokens": 2}))
    usage: dict[str, Any] = {
        "prompt_tokens": draw(counts),
        "completion_tokens": draw(counts),
        "prompt_tokens_details": draw(mostly(st.just(details), None)),
        "completion_tokens_details": {"reasoning_tokens": draw(counts)},
    } | draw(mostly(st.just({}), {"cache_read_input_tokens": 5}))
    message = {"role": "assistant", "content": draw(texts)} | draw(
        mostly(st.just({}), {"tool_calls": [{"id": "c1", "function": {"name": "f"}}]})
    )
    choice = {"message": message, "finish_reason": draw(texts)}
    return {
        "model": draw(mostly(st.sampled_from([PRICED, UNPRICED]), None, 3)),
        "id": draw(texts),
        "choices": draw(mostly(st.just([choice]), [], [choice, choice])),
        "usage": draw(mostly(st.just(usage), None)),
    }


def as_objects(value: Any) -> Any:
    """The same data as plain objects (attributes instead of keys), all the way down."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: as_objects(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_objects(v) for v in value]
    return value


settings_cases = st.builds(
    Settings,
    capture_content=st.booleans(),
    max_content_chars=st.integers(0, 8),
    redactor=st.sampled_from([None, str.upper]),
    prices=st.sampled_from([{}, {UNPRICED: ModelPrice(input=1.0, output=2.0)}]),
)


# No deadline: the machine is shared, and a slow example is no failure of the property.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions(), st.sampled_from([None, PRICED, UNPRICED]), settings_cases)
def test_a_chat_completion_reads_the_same_as_a_dict_and_as_objects(
    value: dict[str, Any], request_model: str | None, config: Settings
) -> None:
    from_dict = response_attributes(extract_response(value), "openai", request_model, config)
    from_objects = response_attributes(
        extract_response(as_objects(value)), "openai", request_model, config
    )
    assert from_dict == from_objects


OPENAI_SHAPED: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": PRICED,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": 'Say "hi"\n'},
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 20, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 4},
    },
}


def test_the_openai_clients_own_completion_reads_as_its_json() -> None:
    config = Settings()
    from_json = response_attributes(extract_response(OPENAI_SHAPED), "openai", None, config)
    model = ChatCompletion.model_validate(OPENAI_SHAPED)
    assert response_attributes(extract_response(model), "openai", None, config) == from_json
    assert from_json[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert from_json[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20
    assert from_json[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    assert from_json[a.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert from_json[a.COST_USD] > 0
    assert json.loads(from_json[a.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": 'Say "hi"\n'}],
            "finish_reason": "stop",
        }
    ]


def test_an_unpriced_response_model_is_priced_by_the_request_model() -> None:
    value = {**OPENAI_SHAPED, "model": UNPRICED}
    priced = response_attributes(extract_response(value), "openai", PRICED, Settings())
    unpriced = response_attributes(extract_response(value), "openai", None, Settings())
    assert priced[a.COST_USD] > 0 and a.COST_USD not in unpriced


def test_values_that_are_not_responses_read_as_empty() -> None:
    for value in (None, "text", 3, b"x", True):
        info = extract_response(value)
        assert (info.model, info.input_tokens, info.text) == (None, None, [])
