"""The one reader of chat completions: every shape of the same data reads the same."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from glassline.instrumentation._extract import put_usage
from glassline.instrumentation._llm import LLMHandler, response_attributes
from glassline.instrumentation._settings import Settings
from glassline.pricing import ModelPrice, cost_usd
from glassline.semconv import attributes as a

PRICED, UNPRICED = "gpt-4o-mini", "no-such-model-xyz"


def mostly(valid: st.SearchStrategy[Any], *odd: Any) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, else one of the ``odd`` values."""
    return st.sampled_from(range(10)).flatmap(lambda n: valid if n else st.sampled_from(odd))


counts = mostly(st.integers(0, 500), -1, None, True, "12")
texts = mostly(st.text(max_size=12), None, 3)


@st.composite
def usages(draw: st.DrawFn) -> dict[str, Any]:
    """Chat usage blocks (OpenAI's, LiteLLM's), each count now and then absent or odd."""
    details = {"cached_tokens": draw(counts)} | draw(
        mostly(st.just({}), {"cache_creation_tokens": 2})
    )
    return {
        "prompt_tokens": draw(counts),
        "completion_tokens": draw(counts),
        "prompt_tokens_details": draw(mostly(st.just(details), None)),
        "completion_tokens_details": {"reasoning_tokens": draw(counts)},
    } | draw(mostly(st.just({}), {"cache_read_input_tokens": 5}, {"input_tokens": 7}))


@st.composite
def completions(draw: st.DrawFn) -> dict[str, Any]:
    """OpenAI-shaped chat completions, each field now and then absent or of an odd type."""
    message = {"role": "assistant", "content": draw(texts)} | draw(
        mostly(st.just({}), {"tool_calls": [{"id": "c1", "function": {"name": "f"}}]})
    )
    choice = {"message": message, "finish_reason": draw(texts)}
    return {
        "model": draw(mostly(st.sampled_from([PRICED, UNPRICED]), None, 3)),
        "id": draw(texts),
        "choices": draw(mostly(st.just([choice]), [], [choice, choice])),
        "usage": draw(mostly(usages(), None)),
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


def read(value: Any, request_model: str | None, config: Settings) -> dict[str, Any]:
    return response_attributes(
        value, provider="openai", request_model=request_model, settings=config
    )


# No deadline: the machine is shared, and a slow example is no failure of the property.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions(), st.sampled_from([None, PRICED, UNPRICED]), settings_cases)
def test_a_chat_completion_reads_the_same_as_a_dict_and_as_objects(
    value: dict[str, Any], request_model: str | None, config: Settings
) -> None:
    assert read(value, request_model, config) == read(as_objects(value), request_model, config)


@settings(max_examples=300, deadline=None)
@given(usages())
def test_the_chat_readers_usage_is_put_usages(usage: dict[str, Any]) -> None:
    expected: dict[str, Any] = {}
    put_usage(expected, usage)
    counted = read({"choices": [], "usage": usage}, None, Settings(prices={}))
    assert {k: v for k, v in counted.items() if k.startswith("gen_ai.usage.")} == expected


@settings(max_examples=200, deadline=None)
@given(completions(), settings_cases)
def test_the_handler_reads_what_the_reader_reads(value: dict[str, Any], config: Settings) -> None:
    handler = LLMHandler("openai", PRICED)
    handler.settings = config
    assert handler.result(value) == read(value, PRICED, config)


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
    from_json = read(OPENAI_SHAPED, None, Settings())
    assert read(ChatCompletion.model_validate(OPENAI_SHAPED), None, Settings()) == from_json
    assert from_json == {
        a.GEN_AI_RESPONSE_MODEL: PRICED,
        a.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        a.GEN_AI_USAGE_INPUT_TOKENS: 120,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 20,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 4,
        a.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        a.COST_USD: cost_usd(
            PRICED, provider="openai", input_tokens=120, output_tokens=30, cache_read_tokens=20
        ),
        a.COST_SOURCE: "sdk",
        a.GEN_AI_OUTPUT_MESSAGES: json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": 'Say "hi"\n'}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }


def test_every_choice_and_tool_call_is_read() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}
    second = {
        "index": 1,
        "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
    }
    value = {**OPENAI_SHAPED, "choices": [*OPENAI_SHAPED["choices"], second]}
    out = read(value, None, Settings())
    assert out[a.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop", "tool_calls"]
    [message] = json.loads(out[a.GEN_AI_OUTPUT_MESSAGES])
    assert message["parts"] == [
        {"type": "text", "content": 'Say "hi"\n'},
        {"type": "tool_call", "id": "c1", "name": "f", "arguments": '{"q": 1}'},
    ]


def test_an_unpriced_response_model_is_priced_by_the_request_model() -> None:
    value = {**OPENAI_SHAPED, "model": UNPRICED}
    assert read(value, PRICED, Settings())[a.COST_USD] > 0
    assert a.COST_USD not in read(value, None, Settings())


def test_cache_tokens_above_the_input_price_no_uncached_input() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 0, "cache_read_input_tokens": 50}
    out = read({"model": PRICED, "choices": [], "usage": usage}, None, Settings())
    assert out[a.COST_USD] == cost_usd(
        PRICED, provider="openai", input_tokens=10, cache_read_tokens=50
    )


def test_values_that_are_not_responses_read_as_empty() -> None:
    for value in (None, "text", 3, b"x", True, {"choices": "no"}):
        assert read(value, None, Settings()) == {}
