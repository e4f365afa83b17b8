"""@retry: attempts as child spans, jittered backoff, Retry-After honoured, outcome on the parent."""

from __future__ import annotations

import openai
import pytest
from fake_llm_server import FakeLLMServer

from glassline.instrumentation import llm, record_retry, retry, stage
from glassline.instrumentation.retry import retry_after_seconds
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def test_attempts_are_children_with_number_reason_and_backoff(spans: SpanCapture) -> None:
    failures = [Flaky(), Flaky()]

    @retry(max_attempts=3, base_delay=0.001, max_delay=0.002)
    def call() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    assert call() == "ok"
    parent = spans.one(
        "retry test_attempts_are_children_with_number_reason_and_backoff.<locals>.call"
    )
    attempts = spans.of_kind("retry_attempt")
    assert [s.attributes[a.RETRY_ATTEMPT] for s in attempts] == [1, 2, 3]  # type: ignore[index]
    assert all(s.parent.span_id == parent.context.span_id for s in attempts)  # type: ignore[union-attr]
    assert a.RETRY_REASON not in (attempts[0].attributes or {})
    assert attempts[1].attributes[a.RETRY_REASON] == "Flaky"  # type: ignore[index]
    for span in attempts[1:]:
        assert 0 <= span.attributes[a.RETRY_BACKOFF_MS] <= 2.0  # type: ignore[index,operator]
    assert (parent.attributes or {})[a.RETRY_COUNT] == 2
    assert (parent.attributes or {})[a.RETRY_OUTCOME] == "success"


def test_exhausted_retries_reraise_the_last_exception(spans: SpanCapture) -> None:
    errors = [Flaky(), Flaky()]

    @retry(max_attempts=2, base_delay=0, name="op")
    def call() -> None:
        raise errors.pop(0)

    last = errors[1]
    with pytest.raises(Flaky) as caught:
        call()
    assert caught.value is last
    parent = dict(spans.one("retry op").attributes or {})
    assert parent[a.RETRY_OUTCOME] == "exhausted" and parent[a.RETRY_COUNT] == 1


def test_not_retryable_errors_are_raised_at_once(spans: SpanCapture) -> None:
    calls = []

    @retry(max_attempts=5, base_delay=0, retry_on=Flaky, name="op")
    def call() -> None:
        calls.append(1)
        raise KeyError("no")

    with pytest.raises(KeyError):
        call()
    assert len(calls) == 1
    assert dict(spans.one("retry op").attributes or {})[a.RETRY_OUTCOME] == "not_retryable"


def test_retryable_predicate_filters(spans: SpanCapture) -> None:
    @retry(max_attempts=5, base_delay=0, retryable=lambda e: e.retry_after is None, name="op")  # type: ignore[attr-defined]
    def call() -> None:
        raise Flaky(retry_after=1.0)

    with pytest.raises(Flaky):
        call()
    assert len(spans.of_kind("retry_attempt")) == 1


def test_retry_after_on_the_exception_replaces_jitter(spans: SpanCapture) -> None:
    errors = [Flaky(retry_after=0.003)]

    @retry(max_attempts=2, base_delay=10.0, max_delay=10.0, name="op")
    def call() -> str:
        if errors:
            raise errors.pop()
        return "ok"

    assert call() == "ok"
    second = spans.of_kind("retry_attempt")[1]
    assert (second.attributes or {})[a.RETRY_BACKOFF_MS] == 3.0


async def test_async_retry_with_real_openai_rate_limit(
    fake_llm: FakeLLMServer, spans: SpanCapture
) -> None:
    client = openai.AsyncOpenAI(base_url=fake_llm.base_url + "/v1", api_key="k", max_retries=0)

    @retry(max_attempts=3, base_delay=5.0, retry_on=openai.RateLimitError, name="chat")
    @llm(provider="openai")
    async def chat(*, model: str) -> object:
        return await client.chat.completions.create(model=model, messages=[])

    await chat(model="rate-limited")  # 429 twice with retry-after: 0, then 200
    assert fake_llm.rate_limited_calls == 2
    attempts = spans.of_kind("retry_attempt")
    assert [s.attributes[a.RETRY_REASON] for s in attempts[1:]] == ["RateLimitError"] * 2  # type: ignore[index]
    assert [s.attributes[a.RETRY_BACKOFF_MS] for s in attempts] == [0.0, 0.0, 0.0]  # type: ignore[index]
    llm_spans = spans.of_kind("llm")
    assert [s.status.is_ok for s in llm_spans] == [False, False, True]
    assert {s.parent.span_id for s in llm_spans} == {s.context.span_id for s in attempts}  # type: ignore[union-attr]
    await client.close()


def test_retry_after_header_forms() -> None:
    class Response:
        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    class HTTPError(Exception):
        def __init__(self, headers: dict[str, str]) -> None:
            self.response = Response(headers)

    assert retry_after_seconds(HTTPError({"retry-after": "2"})) == 2.0
    assert retry_after_seconds(HTTPError({"retry-after-ms": "250"})) == 0.25
    assert retry_after_seconds(HTTPError({"retry-after": "garbage"})) is None
    assert retry_after_seconds(HTTPError({})) is None
    assert retry_after_seconds(ValueError()) is None


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        retry(max_attempts=0)


def test_record_retry_marks_library_attempts(spans: SpanCapture) -> None:
    @stage("call")
    def call() -> None:
        record_retry(attempt=2, reason="RateLimitError", backoff_ms=500)
        record_retry(attempt=3, reason="RateLimitError", backoff_ms=1000)

    call()
    parent = spans.one("call")
    attempts = spans.of_kind("retry_attempt")
    assert [s.attributes[a.RETRY_BACKOFF_MS] for s in attempts] == [500.0, 1000.0]  # type: ignore[index]
    assert all(s.parent.span_id == parent.context.span_id for s in attempts)  # type: ignore[union-attr]
    assert (parent.attributes or {})[a.RETRY_COUNT] == 2
