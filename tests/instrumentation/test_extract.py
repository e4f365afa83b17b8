"""Response readers: dicts, other mappings, pydantic models and plain objects read alike."""

from __future__ import annotations

from collections import UserDict
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pydantic
import pytest

from glassline.instrumentation import _extract
from glassline.instrumentation._extract import get, view
from glassline.instrumentation._llm import response_attributes
from glassline.instrumentation._settings import Settings
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
        out = response_attributes(
            response_of(kind), provider=None, request_model=None, settings=Settings()
        )
        assert out == {
            a.GEN_AI_RESPONSE_MODEL: "m",
            a.GEN_AI_USAGE_INPUT_TOKENS: 12,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4,
        }


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
    reading = acc.reading
    out = reading.attributes
    return (
        out.get(a.GEN_AI_RESPONSE_MODEL),
        reading.text,
        reading.finish_reasons,
        out.get(a.GEN_AI_USAGE_OUTPUT_TOKENS),
    )


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
