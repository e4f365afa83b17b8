"""Invariant 7: telemetry failures are logged once and swallowed; content rules hold."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from glassline.instrumentation import (
    _settings,
    context,
    llm,
    record_cache,
    record_route,
    retry,
    stage,
    tool,
)
from glassline.instrumentation._errors import MAX_ERROR_CHARS
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


@pytest.fixture
def settings() -> Iterator[None]:
    before = _settings.current()
    try:
        yield
    finally:
        _settings.replace(before)


class Exploding:
    """A response whose every attribute raises, like a buggy SDK object."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("boom from property")


def test_extraction_bug_is_logged_once_and_swallowed(
    spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    bad = Exploding()

    @llm(model="m")
    def call() -> Exploding:
        return bad

    with caplog.at_level(logging.DEBUG, logger="glassline.instrumentation"):
        assert call() is bad
        assert call() is bad
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "result extraction" in warnings[0].getMessage()
    assert len(spans.named("chat m")) == 2  # spans still end


def test_bad_attribute_values_do_not_raise(spans: SpanCapture) -> None:
    @stage("s", attributes={"ok": 1})
    def call() -> int:
        record_cache(layer=object(), hit="yes", similarity="not-a-float")  # type: ignore[arg-type]
        record_route(chosen=None, candidates=[object()])  # type: ignore[arg-type]
        return 5

    assert call() == 5
    assert "s" in spans.names()


def test_failing_redactor_fails_closed(spans: SpanCapture, settings: None) -> None:
    def redactor(text: str) -> str:
        raise RuntimeError("redactor down")

    _settings.replace(_settings.Settings(redactor=redactor))

    @llm(model="m")
    def call(*, messages: list[dict[str, str]]) -> dict[str, object]:
        return {"choices": [{"message": {"content": "secret answer"}}]}

    call(messages=[{"role": "user", "content": "my card 4111 1111 1111 1111"}])
    attrs = dict(spans.one("chat m").attributes or {})
    assert "4111" not in str(attrs) and "secret answer" not in str(attrs)
    assert "[REDACTION_FAILED]" in str(attrs[a.GEN_AI_INPUT_MESSAGES])


def test_redactor_runs_before_content_is_recorded(spans: SpanCapture, settings: None) -> None:
    _settings.replace(
        _settings.Settings(redactor=lambda t: t.replace("alice@example.com", "<EMAIL>"))
    )

    @tool("lookup")
    def lookup(email: str) -> str:
        return f"found {email}"

    lookup("alice@example.com")
    attrs = dict(spans.one("execute_tool lookup").attributes or {})
    assert "alice@example.com" not in str(attrs)
    assert attrs[a.GEN_AI_TOOL_CALL_RESULT] == "found <EMAIL>"


def test_content_is_truncated_with_a_marker(spans: SpanCapture, settings: None) -> None:
    _settings.replace(_settings.Settings(max_content_chars=10))

    @llm(model="m")
    def call(*, prompt: str) -> None: ...

    call(prompt="x" * 50)
    attrs = dict(spans.one("chat m").attributes or {})
    messages = json.loads(str(attrs[a.GEN_AI_INPUT_MESSAGES]))
    assert messages[0]["parts"][0]["content"] == "x" * 10
    assert attrs[a.TRUNCATED_PREFIX + a.GEN_AI_INPUT_MESSAGES] == 50


def test_capture_content_off_records_no_content(spans: SpanCapture, settings: None) -> None:
    _settings.replace(_settings.Settings(capture_content=False))

    @llm(model="m")
    def call(*, messages: list[dict[str, str]]) -> dict[str, object]:
        return {"choices": [{"message": {"content": "answer"}}], "usage": {"prompt_tokens": 3}}

    call(messages=[{"role": "user", "content": "question"}])
    attrs = dict(spans.one("chat m").attributes or {})
    assert a.GEN_AI_INPUT_MESSAGES not in attrs and a.GEN_AI_OUTPUT_MESSAGES not in attrs
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 3


def test_a_failing_span_start_runs_the_function_bare(
    spans: SpanCapture, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(args: tuple[object, ...], kwargs: dict[str, object]) -> dict[str, str]:
        raise RuntimeError("identity bug")

    from opentelemetry.trace import SpanKind

    from glassline.instrumentation._lifecycle import SpanSpec, instrument

    spec = SpanSpec(name="x", kind=SpanKind.INTERNAL, attributes={}, propagate_from_call=explode)
    fn = instrument(lambda v: v + 1, spec)
    with caplog.at_level(logging.WARNING, logger="glassline.instrumentation"):
        assert fn(1) == 2
    assert spans.names() == []
    assert "span start" in caplog.text


class UnprintableError(Exception):
    """An app's exception whose ``__str__`` itself fails."""

    def __str__(self) -> str:
        raise RuntimeError("no text for this error")


def test_an_exception_whose_str_fails_is_reraised_and_its_span_still_exported(
    spans: SpanCapture,
) -> None:
    error = UnprintableError()

    @stage("s")
    def call() -> None:
        raise error

    @retry(max_attempts=2, base_delay=0, name="op")
    def flaky() -> None:
        raise error

    for fn in (call, flaky):
        with pytest.raises(UnprintableError) as caught:
            fn()
        assert caught.value is error
    for span in (spans.one("s"), spans.one("retry op")):
        assert span.status.description == "<exception str() failed>"
        [event] = [e for e in span.events if e.name == "exception"]
        assert (event.attributes or {})["exception.type"].endswith("UnprintableError")


def test_an_exceptions_texts_are_bounded_and_their_lengths_kept(spans: SpanCapture) -> None:
    # An upstream error body or a dataframe's repr: a 20 MB span is over any request limit.
    message = "upstream said: " + "x" * 20_000_000

    @stage("s")
    def call() -> None:
        raise ValueError(message)

    with pytest.raises(ValueError):
        call()
    span = spans.one("s")
    [event] = [e for e in span.events if e.name == "exception"]
    event_attributes = dict(event.attributes or {})
    assert event_attributes["exception.message"] == message[:MAX_ERROR_CHARS]
    assert event_attributes[a.TRUNCATED_PREFIX + "exception.message"] == len(message)
    assert len(event_attributes["exception.stacktrace"]) == MAX_ERROR_CHARS
    assert span.status.description == message[:MAX_ERROR_CHARS]


def test_an_id_that_cannot_be_read_leaves_the_block_running(spans: SpanCapture) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no id")

    @stage("s")
    def call() -> int:
        return 3

    with context(user=Unprintable(), session="s-1"):  # type: ignore[arg-type]
        assert call() == 3
    assert a.USER_ID not in (spans.one("s").attributes or {})
