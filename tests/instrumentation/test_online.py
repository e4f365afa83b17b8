"""evaluate(): the app's evaluators on sampled calls, in a bounded background worker."""

from __future__ import annotations

import asyncio
import threading

import pytest

from glassline.instrumentation import Call, Score, evaluate, llm, stage
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


def answer_length(call: Call) -> float:
    return float(len(call.output))


def judge(call: Call) -> Score:  # an LLM-as-judge would call a model here, in the worker
    return Score(value=0.2, label="fail", explanation=f"off topic: {call.kwargs['question']}")


def results(spans: SpanCapture) -> dict[str, dict[str, object]]:
    out = {}
    for span in spans[:]:
        for event in span.events:
            if event.name == a.GEN_AI_EVALUATION_RESULT:
                values = dict(event.attributes or {})
                out[str(values[a.GEN_AI_EVALUATION_NAME])] = {**values, "_span": span}
    return out


def test_results_are_child_spans_of_the_evaluated_call(spans: SpanCapture) -> None:
    online = evaluate([answer_length, judge])

    @stage("generate", prompt=("support-answer", "v8"))
    @llm(provider="openai", model="gpt-4o-mini")
    @online
    def generate(*, question: str) -> str:
        return "Settings > Keys"

    assert generate(question="keys?") == "Settings > Keys"
    assert online.wait(10)
    found = results(spans)
    assert found["answer_length"][a.GEN_AI_EVALUATION_SCORE_VALUE] == 15.0
    assert found["judge"][a.GEN_AI_EVALUATION_SCORE_LABEL] == "fail"
    assert found["judge"][a.GEN_AI_EVALUATION_EXPLANATION] == "off topic: keys?"
    llm_span = spans.one("chat gpt-4o-mini")
    evaluation_span = found["judge"]["_span"]
    assert evaluation_span.parent.span_id == llm_span.context.span_id  # type: ignore[attr-defined]
    carried = dict(evaluation_span.attributes or {})  # type: ignore[attr-defined]
    assert (carried[a.STAGE], carried[a.PROMPT_VERSION]) == ("generate", "v8")
    assert (online.submitted, online.evaluated, online.dropped) == (1, 2, 0)


def test_async_functions_and_verdicts(spans: SpanCapture) -> None:
    online = evaluate([lambda call: call.output == "yes"])

    @online
    async def ask() -> str:
        return "yes"

    assert asyncio.run(ask()) == "yes"
    assert online.wait(10)
    [(_name, values)] = results(spans).items()
    assert values[a.GEN_AI_EVALUATION_SCORE_LABEL] == "pass"


def test_an_evaluator_that_raises_never_reaches_the_app(spans: SpanCapture) -> None:
    def broken(call: Call) -> float:
        raise RuntimeError("judge is down")

    online = evaluate([broken, answer_length])
    decorated = online(lambda: "ok")
    assert decorated() == "ok"
    assert online.wait(10)
    assert list(results(spans)) == ["answer_length"]
    assert online.failed == 1


def test_sample_rate_zero_evaluates_nothing(spans: SpanCapture) -> None:
    online = evaluate([answer_length], sample_rate=0.0)
    decorated = online(lambda: "ok")
    for _ in range(20):
        decorated()
    assert online.wait(10)
    assert online.submitted == 0 and results(spans) == {}


def test_a_full_queue_drops_instead_of_blocking_the_app() -> None:
    release, started = threading.Event(), threading.Event()

    def slow(call: Call) -> None:
        started.set()
        release.wait(10)

    online = evaluate([slow], max_queue=1)
    decorated = online(lambda: "ok")
    decorated()  # taken by the worker, which then blocks
    assert started.wait(10)
    results_ = [decorated() for _ in range(5)]  # one waits in the queue, four are dropped
    release.set()
    assert results_ == ["ok"] * 5
    assert online.wait(10)
    assert (online.submitted, online.dropped) == (2, 4)


@pytest.mark.parametrize("bad", [{"sample_rate": 1.5}, {"max_queue": 0}])
def test_bad_settings_are_refused_at_decoration(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        evaluate([answer_length], **bad)  # type: ignore[arg-type]
