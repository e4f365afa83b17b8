"""record_evaluation: a gen_ai.evaluation.result event on the current span, never an error."""

from __future__ import annotations

import pytest

from glassline.instrumentation import llm, record_evaluation, stage
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


def test_an_evaluation_is_an_event_on_the_current_span(spans: SpanCapture) -> None:
    @llm(provider="openai")
    def chat(*, model: str) -> str:
        record_evaluation("relevance", 0.75, label="pass", explanation="cites the docs")
        return "ok"

    @stage("generate")
    def generate() -> None:
        chat(model="gpt-4o-mini")
        record_evaluation("user_feedback", label="thumbs_up", response_id="chatcmpl-1")

    generate()
    [on_llm] = spans.one("chat gpt-4o-mini").events
    assert on_llm.name == a.GEN_AI_EVALUATION_RESULT
    assert dict(on_llm.attributes or {}) == {
        a.GEN_AI_EVALUATION_NAME: "relevance",
        a.GEN_AI_EVALUATION_SCORE_VALUE: 0.75,
        a.GEN_AI_EVALUATION_SCORE_LABEL: "pass",
        a.GEN_AI_EVALUATION_EXPLANATION: "cites the docs",
    }
    [on_stage] = spans.one("generate").events
    assert dict(on_stage.attributes or {}) == {
        a.GEN_AI_EVALUATION_NAME: "user_feedback",
        a.GEN_AI_EVALUATION_SCORE_LABEL: "thumbs_up",
        a.GEN_AI_RESPONSE_ID: "chatcmpl-1",
    }


def test_options_past_the_score_are_keyword_only() -> None:
    with pytest.raises(TypeError):  # label and explanation are named at the call
        record_evaluation("relevance", 0.5, "pass")  # type: ignore[call-arg]


def test_a_bad_value_is_swallowed_and_the_app_goes_on(spans: SpanCapture) -> None:
    @stage("generate")
    def generate() -> str:
        record_evaluation("relevance", "not a number")  # type: ignore[arg-type]
        return "answer"

    assert generate() == "answer"
    assert spans.one("generate").events == ()


def test_the_prompt_version_is_on_the_llm_span_and_beneath_a_stage(spans: SpanCapture) -> None:
    @llm(provider="openai", prompt=("support-answer", "v7"))
    def chat(*, model: str) -> str:
        return "ok"

    @llm(provider="openai")
    def plain(*, model: str) -> str:
        return "ok"

    @stage("generate", prompt=("rag-answer", "v2"))
    def generate() -> None:
        plain(model="gpt-4o")

    chat(model="gpt-4o-mini")
    generate()
    on_llm = dict(spans.one("chat gpt-4o-mini").attributes or {})
    assert (on_llm[a.PROMPT_NAME], on_llm[a.PROMPT_VERSION]) == ("support-answer", "v7")
    beneath = dict(spans.one("chat gpt-4o").attributes or {})
    assert (beneath[a.PROMPT_NAME], beneath[a.PROMPT_VERSION]) == ("rag-answer", "v2")


def test_a_malformed_prompt_is_refused_when_decorating() -> None:
    with pytest.raises(TypeError, match="prompt= takes"):
        llm(prompt="support-answer@v7")  # type: ignore[arg-type]
