"""@llm extracts tokens, cost and output from the real openai and anthropic clients' objects."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from fake_llm_server import ANTHROPIC_USAGE, TEXT, FakeLLMServer

from glassline.instrumentation import llm
from glassline.instrumentation.testing import SpanCapture
from glassline.pricing import cost_usd
from glassline.semconv import attributes as a

MESSAGES = [{"role": "user", "content": "hi"}]


def _openai(server: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)


def _anthropic(server: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0)


def _check_openai_usage(attrs: dict[str, object], model: str) -> None:
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20
    assert attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 5
    expected = cost_usd(
        model, provider="openai", input_tokens=120, output_tokens=30, cache_read_tokens=20
    )
    assert expected is not None
    assert attrs[a.COST_USD] == pytest.approx(expected)
    assert attrs[a.COST_SOURCE] == "sdk"


def test_chat_completion_gets_tokens_cost_and_output(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat(*, model: str, messages: list[dict[str, str]], temperature: float) -> object:
        return client.chat.completions.create(
            model=model, messages=messages, temperature=temperature, max_tokens=50
        )

    chat(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    span = spans.one("chat gpt-4o-mini")
    attrs = dict(span.attributes or {})
    assert span.kind.name == "CLIENT"
    assert attrs[a.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[a.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[a.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    _check_openai_usage(attrs, "gpt-4o-mini")
    output = json.loads(str(attrs[a.GEN_AI_OUTPUT_MESSAGES]))
    assert output[0]["parts"][0]["content"] == "".join(TEXT)


def test_streamed_chat_keeps_span_open_and_sums_usage(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat(*, model: str, messages: list[dict[str, str]], stream: bool) -> object:
        return client.chat.completions.create(
            model=model, messages=messages, stream=stream, stream_options={"include_usage": True}
        )

    stream = chat(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert spans.named("chat gpt-4o-mini") == []  # open while the stream is unread
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert pieces == TEXT
    attrs = dict(spans.one("chat gpt-4o-mini").attributes or {})
    assert attrs[a.GEN_AI_REQUEST_STREAM] is True
    assert attrs[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attrs[a.TIME_TO_FIRST_CHUNK_MS] == pytest.approx(
        attrs[a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] * 1000
    )
    _check_openai_usage(attrs, "gpt-4o-mini")
    assert json.loads(str(attrs[a.GEN_AI_OUTPUT_MESSAGES]))[0]["parts"][0]["content"] == "".join(
        TEXT
    )


async def test_async_stream_closed_early_ends_the_span_once(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm.base_url + "/v1", api_key="k", max_retries=0)

    @llm(provider="openai", model="gpt-4o-mini")
    async def chat(**kwargs: object) -> object:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )

    stream = await chat()
    async for _chunk in stream:
        break
    await stream.close()
    await stream.close()
    [span] = spans.named("chat gpt-4o-mini")
    assert a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in (span.attributes or {})
    await client.close()


def test_responses_api_object_and_stream(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def respond(*, model: str, input: str, stream: bool = False) -> object:
        return client.responses.create(model=model, input=input, stream=stream)

    respond(model="gpt-4o-mini", input="hi")
    list(respond(model="gpt-4o-mini", input="hi", stream=True))
    plain, streamed = spans.named("chat gpt-4o-mini")
    for span in (plain, streamed):
        attrs = dict(span.attributes or {})
        _check_openai_usage(attrs, "gpt-4o-mini")
        assert attrs[a.GEN_AI_RESPONSE_ID] == "resp_1"
        assert json.loads(str(attrs[a.GEN_AI_INPUT_MESSAGES]))[0]["parts"][0]["content"] == "hi"
    assert a.TIME_TO_FIRST_CHUNK_MS in (streamed.attributes or {})


def _check_anthropic(attrs: dict[str, object]) -> None:
    cached = (
        ANTHROPIC_USAGE["cache_read_input_tokens"] + ANTHROPIC_USAGE["cache_creation_input_tokens"]
    )
    # Anthropic's input_tokens excludes cache tokens; the conventions' input includes them.
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == ANTHROPIC_USAGE["input_tokens"] + cached
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 40
    assert attrs[a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 50
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 25
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    expected = cost_usd(
        "claude-3-5-sonnet-latest",
        provider="anthropic",
        input_tokens=120,
        output_tokens=25,
        cache_read_tokens=40,
        cache_creation_tokens=50,
    )
    assert expected is not None and attrs[a.COST_USD] == pytest.approx(expected)


def test_anthropic_message_and_stream(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = _anthropic(fake_llm)

    @llm(provider="anthropic")
    def ask(*, model: str, system: str, stream: bool = False) -> object:
        return client.messages.create(
            model=model, max_tokens=100, system=system, messages=MESSAGES, stream=stream
        )

    ask(model="claude-3-5-sonnet-latest", system="be brief")
    events = list(ask(model="claude-3-5-sonnet-latest", system="be brief", stream=True))
    assert events[-1].type == "message_stop"
    plain, streamed = spans.named("chat claude-3-5-sonnet-latest")
    for span in (plain, streamed):
        attrs = dict(span.attributes or {})
        _check_anthropic(attrs)
        assert "be brief" in str(attrs[a.GEN_AI_SYSTEM_INSTRUCTIONS])
    assert a.TIME_TO_FIRST_CHUNK_MS in (streamed.attributes or {})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}, (7, 3)),
        ({"usage": {"input_tokens": 9, "output_tokens": 4}}, (9, 4)),
        ({"usage": {"prompt_tokens": "seven"}}, (None, None)),
        ({"choices": "not a list", "usage": None}, (None, None)),
        (object(), (None, None)),
        ("just text", (None, None)),
    ],
)
def test_plain_dicts_and_unknown_shapes(
    spans: SpanCapture, response: object, expected: tuple[int | None, int | None]
) -> None:
    @llm(provider="openai", model="gpt-4o-mini")
    def call() -> object:
        return response

    assert call() is response
    attrs = dict(spans.one("chat gpt-4o-mini").attributes or {})
    assert (
        attrs.get(a.GEN_AI_USAGE_INPUT_TOKENS),
        attrs.get(a.GEN_AI_USAGE_OUTPUT_TOKENS),
    ) == expected
    assert (a.COST_USD in attrs) == (expected[0] is not None)


def test_unknown_model_gets_no_cost(spans: SpanCapture) -> None:
    @llm(provider="openai", model="in-house-7b")
    def call() -> dict[str, object]:
        return {"usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    call()
    attrs = dict(spans.one("chat in-house-7b").attributes or {})
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert a.COST_USD not in attrs


def test_anthropic_stream_helper_read_via_text_stream(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _anthropic(fake_llm)

    @llm(provider="anthropic")
    def ask(*, model: str) -> object:
        return client.messages.stream(model=model, max_tokens=100, messages=MESSAGES)

    with ask(model="claude-3-5-sonnet-latest") as stream:
        assert spans.named("chat claude-3-5-sonnet-latest") == []
        assert "".join(stream.text_stream) == "".join(TEXT)
    _check_anthropic(dict(spans.one("chat claude-3-5-sonnet-latest").attributes or {}))


def test_openai_chat_stream_helper_iterated(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat(*, model: str) -> object:
        return client.chat.completions.stream(
            model=model, messages=MESSAGES, stream_options={"include_usage": True}
        )

    with chat(model="gpt-4o-mini") as stream:
        kinds = {event.type for event in stream}
    assert "chunk" in kinds
    attrs = dict(spans.one("chat gpt-4o-mini").attributes or {})
    _check_openai_usage(attrs, "gpt-4o-mini")
    assert a.TIME_TO_FIRST_CHUNK_MS in attrs


async def test_async_anthropic_stream_helper(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = anthropic.AsyncAnthropic(base_url=fake_llm.base_url, api_key="k", max_retries=0)

    @llm(provider="anthropic")
    def ask(*, model: str) -> object:
        return client.messages.stream(model=model, max_tokens=100, messages=MESSAGES)

    async with ask(model="claude-3-5-sonnet-latest") as stream:
        events = [event.type async for event in stream]
    assert events[-1] == "message_stop"
    attrs = dict(spans.one("chat claude-3-5-sonnet-latest").attributes or {})
    _check_anthropic(attrs)
    assert a.TIME_TO_FIRST_CHUNK_MS in attrs
    await client.close()
