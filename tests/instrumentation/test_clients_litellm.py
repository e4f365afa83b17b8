"""LiteLLM through the client hooks: one span per call, not one for LiteLLM and one for openai."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fake_llm_server import TEXT, FakeLLMServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import

import litellm

from glassline.instrumentation import clients, llm
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def hooks() -> Iterator[None]:
    assert clients.instrument_litellm() and clients.instrument_openai()
    try:
        yield
    finally:
        clients.uninstrument()


def _call(server: FakeLLMServer, **kwargs: object) -> object:
    return litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        api_base=server.base_url + "/v1",
        api_key="k",
        **kwargs,
    )


def test_a_litellm_call_over_the_openai_client_is_one_span(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    response = _call(fake_llm)
    assert response.choices[0].message.content == "".join(TEXT)  # type: ignore[attr-defined]
    attrs = dict(spans.one("chat openai/gpt-4o-mini").attributes or {})
    assert len(spans) == 1
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 20
    assert float(str(attrs[a.COST_USD])) > 0


def test_a_streamed_litellm_call_inside_llm(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    @llm
    def chat() -> str:
        stream = _call(fake_llm, stream=True, stream_options={"include_usage": True})
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # type: ignore[attr-defined]

    assert chat() == "".join(TEXT)
    [span] = spans.of_kind("llm")
    attrs = dict(span.attributes or {})
    assert span.name == "chat openai/gpt-4o-mini"
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


async def test_async_litellm_completion(fake_llm: FakeLLMServer, spans: SpanCapture) -> None:
    await litellm.acompletion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        api_base=fake_llm.base_url + "/v1",
        api_key="k",
    )
    [span] = spans.of_kind("llm")
    assert (span.attributes or {})[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 30
