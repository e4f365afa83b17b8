"""Client hooks: every call of the real openai and anthropic clients is one span, never two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import openai
import pytest
from fake_llm_server import ANTHROPIC_USAGE, TEXT, FakeLLMServer

from glassline.instrumentation import clients, init, llm, shutdown, stage, workflow
from glassline.instrumentation.testing import SpanCapture
from glassline.pricing import cost_usd
from glassline.semconv import attributes as a

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"
CLAUDE = "claude-3-5-sonnet-latest"


@pytest.fixture(autouse=True)
def hooks() -> Iterator[None]:
    assert clients.instrument_openai() and clients.instrument_anthropic()
    try:
        yield
    finally:
        clients.uninstrument()


def _openai(server: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)


def _async_openai(server: FakeLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="k", max_retries=0)


def _anthropic(server: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0)


def _attrs(spans: SpanCapture, name: str) -> dict[str, object]:
    return dict(spans.one(name).attributes or {})


def _check_openai(attrs: dict[str, object], response_id: str = "chatcmpl-1") -> None:
    assert attrs[a.SPAN_KIND] == "llm"
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[a.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[a.GEN_AI_RESPONSE_MODEL] == MODEL
    assert attrs[a.GEN_AI_RESPONSE_ID] == response_id
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20
    assert attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 5
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    expected = cost_usd(
        MODEL, provider="openai", input_tokens=120, output_tokens=30, cache_read_tokens=20
    )
    assert expected is not None and attrs[a.COST_USD] == pytest.approx(expected)
    output = json.loads(str(attrs[a.GEN_AI_OUTPUT_MESSAGES]))
    assert output[0]["parts"][0]["content"] == "".join(TEXT)
    assert json.loads(str(attrs[a.GEN_AI_INPUT_MESSAGES]))[0]["parts"][0]["content"] == "hi"


def _check_anthropic(attrs: dict[str, object]) -> None:
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "anthropic"
    cached = (
        ANTHROPIC_USAGE["cache_read_input_tokens"] + ANTHROPIC_USAGE["cache_creation_input_tokens"]
    )
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == ANTHROPIC_USAGE["input_tokens"] + cached
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 40
    assert attrs[a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 50
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 25
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[a.GEN_AI_RESPONSE_ID] == "msg_01"
    assert float(str(attrs[a.COST_USD])) > 0


def test_a_plain_client_call_is_one_span(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    response = _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert response.choices[0].message.content == "".join(TEXT)
    span = spans.one("chat gpt-4o-mini")
    assert span.kind.name == "CLIENT"
    _check_openai(dict(span.attributes or {}))


@dataclass
class Answer:
    text: str
    model: str


def test_inside_llm_the_call_is_recorded_on_its_span_whatever_it_returns(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @stage("generate")
    @llm(provider="openai")
    def chat(question: str) -> Answer:  # no model argument, returns neither text nor response
        response = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        return Answer(response.choices[0].message.content or "", response.model)

    @workflow("answer")
    def answer(question: str) -> str:
        return chat(question).text

    assert answer("hi") == "".join(TEXT)
    assert spans.names() == ["chat gpt-4o-mini", "generate", "answer"]  # renamed, not doubled
    attrs = _attrs(spans, "chat gpt-4o-mini")
    _check_openai(attrs)
    assert attrs[a.STAGE] == "generate"


def test_a_second_call_inside_one_llm_span_gets_its_own_child_span(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def twice() -> tuple[str, str]:
        first = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        second = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return first.id, second.id

    twice()
    inner, outer = spans.named("chat gpt-4o-mini")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    for span in (inner, outer):
        _check_openai(dict(span.attributes or {}))


def test_a_streamed_call_inside_llm_returning_text(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat() -> str:
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert chat() == "".join(TEXT)
    attrs = _attrs(spans, "chat gpt-4o-mini")
    _check_openai(attrs, response_id="chatcmpl-2")
    assert attrs[a.GEN_AI_REQUEST_STREAM] is True
    assert float(str(attrs[a.TIME_TO_FIRST_CHUNK_MS])) > 0


def test_a_returned_stream_keeps_the_llm_span_open_until_read(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat() -> object:
        return client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )

    stream = chat()
    assert len(spans) == 0
    assert [c.choices[0].delta.content for c in stream if c.choices][:3] == TEXT
    _check_openai(_attrs(spans, "chat gpt-4o-mini"), response_id="chatcmpl-2")


def test_a_plain_stream_is_one_span(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    stream = _openai(fake_llm).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        list(stream)
    _check_openai(_attrs(spans, "chat gpt-4o-mini"), response_id="chatcmpl-2")


async def test_async_calls_and_streams(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = _async_openai(fake_llm)

    @llm(provider="openai")
    async def chat() -> str:
        response = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return response.choices[0].message.content or ""

    assert await chat() == "".join(TEXT)
    stream = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert [c async for c in stream]
    plain, streamed = spans.named("chat gpt-4o-mini")
    _check_openai(dict(plain.attributes or {}))
    _check_openai(dict(streamed.attributes or {}), response_id="chatcmpl-2")
    await client.close()


def test_responses_api_object_and_stream(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = _openai(fake_llm)
    client.responses.create(model=MODEL, input="hi")
    list(client.responses.create(model=MODEL, input="hi", stream=True))
    for span in spans.named("chat gpt-4o-mini"):
        _check_openai(dict(span.attributes or {}), response_id="resp_1")
    assert len(spans) == 2


async def test_embeddings_sync_and_async(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    _openai(fake_llm).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    client = _async_openai(fake_llm)
    await client.embeddings.create(model="text-embedding-3-small", input="a")
    sync, async_ = spans.named("embeddings text-embedding-3-small")
    for span, tokens in ((sync, 16), (async_, 8)):
        attrs = dict(span.attributes or {})
        assert attrs[a.GEN_AI_OPERATION_NAME] == "embeddings"
        assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == tokens
        expected = cost_usd("text-embedding-3-small", provider="openai", input_tokens=tokens)
        assert expected is not None and attrs[a.COST_USD] == pytest.approx(expected)
    await client.close()


def test_raw_responses_are_read_through_their_parsed_body(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    raw = _openai(fake_llm).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    assert raw.parse().id == "chatcmpl-1"
    _check_openai(_attrs(spans, "chat gpt-4o-mini"))


def test_anthropic_create_stream_and_stream_helper(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _anthropic(fake_llm)
    client.messages.create(model=CLAUDE, max_tokens=100, messages=MESSAGES)
    list(client.messages.create(model=CLAUDE, max_tokens=100, messages=MESSAGES, stream=True))
    with client.messages.stream(model=CLAUDE, max_tokens=100, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "".join(TEXT)

    @llm(provider="anthropic")
    def ask() -> str:
        message = client.messages.create(model=CLAUDE, max_tokens=100, messages=MESSAGES)
        return message.content[0].text  # type: ignore[union-attr]

    assert ask() == "".join(TEXT)
    found = spans.named(f"chat {CLAUDE}")
    assert len(found) == len(spans) == 4
    for span in found:
        _check_anthropic(dict(span.attributes or {}))


async def test_async_anthropic_stream(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    client = anthropic.AsyncAnthropic(base_url=fake_llm.base_url, api_key="k", max_retries=0)
    async with client.messages.stream(model=CLAUDE, max_tokens=100, messages=MESSAGES) as stream:
        assert [event.type async for event in stream][-1] == "message_stop"
    _check_anthropic(_attrs(spans, f"chat {CLAUDE}"))
    await client.close()


def test_a_failed_call_is_an_error_span_and_the_error_reaches_the_app(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    with pytest.raises(openai.RateLimitError):
        _openai(fake_llm).chat.completions.create(model="rate-limited", messages=MESSAGES)
    span = spans.one("chat rate-limited")
    assert span.status.status_code.name == "ERROR"
    assert (span.attributes or {})[a.ERROR_TYPE] == "RateLimitError"


def test_a_retry_inside_llm_reports_the_successful_attempt(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = _openai(fake_llm)

    @llm(provider="openai")
    def chat() -> str:
        for _ in range(3):
            try:
                return client.chat.completions.create(model="rate-limited", messages=MESSAGES).id
            except openai.RateLimitError:
                continue
        raise AssertionError("the fake provider answers the third call")

    assert chat() == "chatcmpl-1"
    attrs = _attrs(spans, "chat rate-limited")
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120


def test_content_capture_off_records_no_content(
    fake_llm: FakeLLMServer, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSLINE_CAPTURE_CONTENT", "false")
    init(endpoint="http://127.0.0.1:9", protocol="http", instrument=[])
    try:
        _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        shutdown()
    attrs = _attrs(spans, "chat gpt-4o-mini")
    assert a.GEN_AI_INPUT_MESSAGES not in attrs and a.GEN_AI_OUTPUT_MESSAGES not in attrs
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120


def test_uninstrument_puts_the_clients_own_methods_back(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    patched = openai.resources.chat.completions.Completions.create
    clients.uninstrument()
    original = openai.resources.chat.completions.Completions.create
    assert original is not patched and original is patched.__wrapped__  # type: ignore[attr-defined]
    _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(spans) == 0
    assert clients.instrument_openai()
    assert clients.instrument_openai()  # idempotent: still one span per call
    _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(spans) == 1


def test_init_instruments_the_imported_clients_and_shutdown_undoes_it(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    clients.uninstrument()
    init(endpoint="http://127.0.0.1:9", protocol="http")  # default: every imported client
    try:
        _anthropic(fake_llm).messages.create(model=CLAUDE, max_tokens=10, messages=MESSAGES)
        _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    finally:
        shutdown()
    assert len(spans) == 2
    _openai(fake_llm).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(spans) == 2
    with pytest.raises(ValueError, match=r"init\.instrument"):
        init(instrument=["cohere"])
