"""The Redactor as the SDK's redactor: content is clean before it is put on a span."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from glassline.instrumentation import _settings, llm
from glassline.instrumentation.testing import capture_spans
from glassline.redaction import RedactionConfig, Redactor
from glassline.semconv import attributes as a


@pytest.fixture
def redacting_sdk() -> Iterator[None]:
    before = _settings.current()
    cfg = RedactionConfig.model_validate(
        {"entities": {"EMAIL_ADDRESS": "hash"}, "hmac_key": "k" * 32}
    )
    _settings.replace(_settings.Settings(capture_content=True, redactor=Redactor(cfg)))
    try:
        yield
    finally:
        _settings.replace(before)


def test_prompt_and_completion_are_redacted_in_process(redacting_sdk):
    @llm(model="gpt-4o-2024-08-06")
    def call(*, messages: list[dict[str, str]]) -> dict[str, object]:
        return {
            "choices": [
                {
                    "message": {
                        "content": "Sent to jane@example.com, card on file 4111 1111 1111 1111"
                    }
                }
            ]
        }

    with capture_spans() as spans:
        call(
            messages=[{"role": "user", "content": "I'm jane@example.com, key sk-proj-" + "q" * 40}]
        )
    attrs = dict(spans.one("chat gpt-4o-2024-08-06").attributes or {})
    stored = json.dumps(attrs)
    for raw in ("jane@example.com", "4111 1111 1111 1111", "sk-proj-"):
        assert raw not in stored
    inp = str(attrs[a.GEN_AI_INPUT_MESSAGES])
    out = str(attrs[a.GEN_AI_OUTPUT_MESSAGES])
    token = inp.split("I'm ", 1)[1].split(",", 1)[0]
    assert token.startswith("<EMAIL_ADDRESS:") and token in out  # same email, same token
    assert "<OPENAI_API_KEY>" in inp and "<CREDIT_CARD>" in out
