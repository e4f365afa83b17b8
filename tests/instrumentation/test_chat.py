"""The one-pass reader of chat completions writes exactly what the general path writes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from glassline.instrumentation._chat import chat_attributes
from glassline.instrumentation._extract import extract_response
from glassline.instrumentation._llm import response_attributes
from glassline.instrumentation._settings import Settings
from glassline.pricing import ModelPrice
from glassline.semconv import attributes as a

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


settings_cases = st.builds(
    Settings,
    capture_content=st.booleans(),
    max_content_chars=st.integers(0, 8),
    redactor=st.sampled_from([None, str.upper]),
    prices=st.sampled_from([{}, {UNPRICED: ModelPrice(input=1.0, output=2.0)}]),
)


def general(value: Any, request_model: str | None, settings: Settings) -> dict[str, Any]:
    return response_attributes(extract_response(value), "openai", request_model, settings)


# No deadline: the machine is shared, and a slow example is no failure of the property.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions(), st.sampled_from([None, PRICED, UNPRICED]), settings_cases)
def test_whatever_it_reads_equals_the_general_path(
    value: dict[str, Any], request_model: str | None, config: Settings
) -> None:
    fast = chat_attributes(value, "openai", request_model, config)
    event("one pass" if fast is not None else "general path")
    if fast is not None:
        assert fast == general(value, request_model, config)


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


def test_the_openai_clients_own_completion_takes_the_one_pass_path() -> None:
    settings = Settings()
    for value in (OPENAI_SHAPED, ChatCompletion.model_validate(OPENAI_SHAPED)):
        fast = chat_attributes(value, "openai", None, settings)
        assert fast is not None, type(value)
        assert fast == general(value, None, settings)
        assert fast[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20
        assert fast[a.COST_USD] > 0 and fast[a.GEN_AI_OUTPUT_MESSAGES].endswith('"stop"}]')


def test_an_unpriced_response_model_is_priced_by_the_request_model() -> None:
    value = {**OPENAI_SHAPED, "model": UNPRICED}
    fast = chat_attributes(value, "openai", PRICED, Settings())
    assert fast is not None and fast[a.COST_USD] == general(value, PRICED, Settings())[a.COST_USD]


def test_other_shapes_are_left_to_the_general_path() -> None:
    two_choices = {**OPENAI_SHAPED, "choices": OPENAI_SHAPED["choices"] * 2}
    anthropic = {"type": "message", "model": PRICED, "content": [], "usage": {"input_tokens": 1}}
    for value in (two_choices, anthropic, {"usage": {"prompt_tokens": 1}}, None, "text", 3):
        assert chat_attributes(value, "openai", None, Settings()) is None
