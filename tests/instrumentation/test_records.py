"""record_cache, record_route and record_response."""

from __future__ import annotations

from glassline.instrumentation import llm, record_cache, record_response, record_route, stage
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


def test_each_cache_lookup_is_a_span_under_the_current_one(spans: SpanCapture) -> None:
    @stage("retrieve")
    def retrieve() -> None:
        record_cache(layer="semantic", hit=True, key_hash="abc", similarity=0.97)
        record_cache(layer="exact", hit=False)

    retrieve()
    parent = spans.one("retrieve")
    hit, miss = dict(spans.one("cache semantic").attributes or {}), spans.one("cache exact")
    assert hit[a.CACHE_HIT] is True and hit[a.CACHE_SIMILARITY] == 0.97
    assert hit[a.CACHE_KEY_HASH] == "abc" and hit[a.STAGE] == "retrieve"
    assert (miss.attributes or {})[a.CACHE_HIT] is False
    assert miss.parent.span_id == parent.context.span_id  # type: ignore[union-attr]


def test_route_goes_on_the_current_span_and_the_following_llm_span(spans: SpanCapture) -> None:
    @llm(provider="openai")
    def chat(*, model: str) -> None: ...

    @stage("generate")
    def generate() -> None:
        record_route(chosen="gpt-4o-mini", candidates=["gpt-4o", "gpt-4o-mini"], reason="budget")
        chat(model="gpt-4o-mini")
        record_route(chosen="gpt-4o", reason="primary failed", fallback_from="gpt-4o-mini")
        chat(model="gpt-4o")

    generate()
    first = dict(spans.one("chat gpt-4o-mini").attributes or {})
    second = dict(spans.one("chat gpt-4o").attributes or {})
    assert first[a.ROUTE_CHOSEN] == "gpt-4o-mini" and first[a.ROUTE_REASON] == "budget"
    assert first[a.ROUTE_CANDIDATES] == ("gpt-4o", "gpt-4o-mini")
    assert a.ROUTE_FALLBACK_FROM not in first
    assert second[a.ROUTE_CHOSEN] == "gpt-4o" and second[a.ROUTE_FALLBACK_FROM] == "gpt-4o-mini"
    assert a.ROUTE_CANDIDATES not in second
    stage_span = spans.one("generate")
    assert (stage_span.attributes or {})[a.ROUTE_CHOSEN] == "gpt-4o"  # last decision
    assert [e.name for e in stage_span.events] == ["glassline.route"] * 2


def test_route_scope_ends_with_the_enclosing_call(spans: SpanCapture) -> None:
    @stage("a")
    def decide() -> None:
        record_route(chosen="x")

    @stage("b")
    def later() -> None: ...

    decide()
    later()
    assert a.ROUTE_CHOSEN not in (spans.one("b").attributes or {})


def test_record_response_for_functions_returning_text(spans: SpanCapture) -> None:
    @llm(provider="openai")
    def chat(*, model: str) -> str:
        response = {"model": model, "usage": {"prompt_tokens": 1000, "completion_tokens": 10}}
        record_response(response)
        return "text"

    assert chat(model="gpt-4o-mini") == "text"
    attrs = dict(spans.one("chat gpt-4o-mini").attributes or {})
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[a.COST_USD] > 0  # type: ignore[operator]
