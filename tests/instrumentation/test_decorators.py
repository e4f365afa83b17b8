"""Decorators: one span per call on every kind of function, streams ended exactly once."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry import trace

from glassline.instrumentation import context, from_arg, llm, stage, tool, workflow
from glassline.instrumentation.testing import SpanCapture
from glassline.semconv import attributes as a


def test_bare_and_called_forms_name_the_span(spans: SpanCapture) -> None:
    @stage
    def load() -> int:
        return 1

    @stage()
    def parse() -> int:
        return 2

    @stage("rank")
    def rank_docs() -> int:
        return 3

    assert (load(), parse(), rank_docs()) == (1, 2, 3)
    assert spans.names() == ["load", "parse", "rank"]
    assert all(s.attributes and s.attributes[a.SPAN_KIND] == "stage" for s in spans)


@pytest.mark.parametrize("deco", [workflow, stage, llm, tool, workflow("w"), llm(model="m")])
def test_wraps_and_signature_are_unchanged(deco: object) -> None:
    def original(x: int, *, y: str = "a") -> str:
        """Doc."""
        return f"{x}{y}"

    wrapped = deco(original)  # type: ignore[operator]
    assert wrapped.__name__ == "original" and wrapped.__doc__ == "Doc."
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert wrapped.__wrapped__ is original


def test_kind_of_function_is_preserved() -> None:
    async def coro() -> None: ...

    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> AsyncIterator[int]:
        yield 1

    assert inspect.iscoroutinefunction(stage(coro))
    assert inspect.isgeneratorfunction(stage(gen))
    assert inspect.isasyncgenfunction(stage(agen))


def test_methods_are_decorated_per_instance_call(spans: SpanCapture) -> None:
    class Service:
        def __init__(self) -> None:
            self.calls = 0

        @tool("search")
        def search(self, query: str) -> list[str]:
            self.calls += 1
            return [query]

    service = Service()
    assert service.search("q") == ["q"] and service.calls == 1
    span = spans.one("execute_tool search")
    attrs = dict(span.attributes or {})
    assert attrs[a.GEN_AI_TOOL_NAME] == "search"
    assert attrs[a.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"query": "q"}'
    assert attrs[a.GEN_AI_TOOL_CALL_RESULT] == '["q"]'


def test_user_exception_is_recorded_and_reraised_unchanged(spans: SpanCapture) -> None:
    error = KeyError("missing")

    @stage("s")
    def fail() -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        fail()
    assert caught.value is error
    span = spans.one("s")
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes and span.attributes[a.ERROR_TYPE] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


async def test_async_exception_is_recorded_and_reraised(spans: SpanCapture) -> None:
    @llm(model="m")
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await fail()
    assert spans.one("chat m").status.status_code == trace.StatusCode.ERROR


def test_workflow_context_reaches_every_descendant(spans: SpanCapture) -> None:
    @workflow("answer", tenant="acme", user=from_arg("request.user"), session=from_arg("sid"))
    def answer(request: dict[str, str], sid: str) -> str:
        return retrieve()

    @stage("retrieve")
    def retrieve() -> str:
        with trace.get_tracer("other-lib").start_as_current_span("foreign"):
            return search()

    @tool("search")
    def search() -> str:
        return "doc"

    answer({"user": "u1"}, sid="s1")
    for name in ("answer", "retrieve", "foreign", "execute_tool search"):
        attrs = dict(spans.one(name).attributes or {})
        assert attrs[a.TENANT_ID] == "acme" and attrs[a.USER_ID] == "u1", name
        assert attrs[a.SESSION_ID] == "s1" and attrs[a.WORKFLOW] == "answer", name
    for name in ("foreign", "execute_tool search"):
        assert dict(spans.one(name).attributes or {})[a.STAGE] == "retrieve"
    assert a.STAGE not in (spans.one("answer").attributes or {})


def test_from_arg_with_an_unknown_parameter_fails_at_decoration() -> None:
    with pytest.raises(TypeError, match="no parameter 'user_id'"):

        @workflow(user=from_arg("user_id"))
        def answer(question: str) -> None: ...


async def test_context_propagates_across_asyncio_tasks(spans: SpanCapture) -> None:
    @llm(model="m")
    async def call(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @stage("fan_out")
    async def fan_out() -> list[int]:
        return list(await asyncio.gather(*(asyncio.create_task(call(i)) for i in range(3))))

    with context(tenant="t", user="u", session="s"):
        assert await fan_out() == [0, 1, 2]
    parent = spans.one("fan_out")
    calls = spans.named("chat m")
    assert len(calls) == 3
    for span in calls:
        attrs = dict(span.attributes or {})
        assert (attrs[a.USER_ID], attrs[a.STAGE], attrs[a.TENANT_ID]) == ("u", "fan_out", "t")
        assert span.parent is not None and span.parent.span_id == parent.context.span_id


def test_context_is_restored_after_the_block(spans: SpanCapture) -> None:
    @stage("s")
    def step() -> None: ...

    with context(user="u1"):
        with context(session="s1"):
            step()
        step()
    step()
    first, second, third = (dict(s.attributes or {}) for s in spans)
    assert (first[a.USER_ID], first[a.SESSION_ID]) == ("u1", "s1")
    assert second[a.USER_ID] == "u1" and a.SESSION_ID not in second
    assert a.USER_ID not in third


def test_generator_span_covers_iteration_and_does_not_leak(spans: SpanCapture) -> None:
    @llm(model="m")
    def tokens() -> Iterator[str]:
        yield "a"
        yield "b"

    seen = []
    for token in tokens():
        seen.append(token)
        # Between chunks the consumer's code is not inside the LLM span.
        assert not trace.get_current_span().is_recording()
    assert seen == ["a", "b"]
    attrs = dict(spans.one("chat m").attributes or {})
    assert a.TIME_TO_FIRST_CHUNK_MS in attrs
    assert attrs[a.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role": "assistant", "parts": [{"type": "text", "content": "ab"}]}]'
    )


def test_generator_closed_early_ends_once_without_error(spans: SpanCapture) -> None:
    closed = []

    @stage("g")
    def numbers() -> Iterator[int]:
        try:
            yield from range(10)
        finally:
            closed.append(True)

    gen = numbers()
    assert next(gen) == 0
    gen.close()
    gen.close()
    assert closed == [True]
    span = spans.one("g")
    assert span.status.status_code != trace.StatusCode.ERROR


def test_generator_error_mid_stream_is_recorded(spans: SpanCapture) -> None:
    @stage("g")
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("mid-stream")

    gen = broken()
    next(gen)
    with pytest.raises(RuntimeError, match="mid-stream"):
        next(gen)
    assert spans.one("g").status.status_code == trace.StatusCode.ERROR


def test_generator_send_and_return_value_pass_through(spans: SpanCapture) -> None:
    @stage("echo")
    def echo() -> object:
        received = yield "ready"
        return received

    gen = echo()
    assert next(gen) == "ready"
    with pytest.raises(StopIteration) as stop:
        gen.send("hello")
    assert stop.value.value == "hello"
    assert spans.names() == ["echo"]


async def test_async_generator_cancelled_ends_span_with_cancel(spans: SpanCapture) -> None:
    started = asyncio.Event()

    @llm(model="m")
    async def slow() -> AsyncIterator[str]:
        yield "first"
        started.set()
        await asyncio.Event().wait()
        yield "never"

    async def consume() -> None:
        async for _ in slow():
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = spans.one("chat m")
    assert dict(span.attributes or {})[a.ERROR_TYPE] == "cancelled"


async def test_async_generator_aclose_ends_span_once(spans: SpanCapture) -> None:
    @stage("ag")
    async def numbers() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    agen = numbers()
    assert await agen.__anext__() == 0
    await agen.aclose()
    assert spans.names() == ["ag"]


def test_returned_generator_keeps_span_open_until_exhausted(spans: SpanCapture) -> None:
    @llm(model="m")
    def stream() -> Iterator[str]:
        return iter(["x", "y"])

    result = stream()
    assert spans.names() == []
    assert list(result) == ["x", "y"]
    assert spans.names() == ["chat m"]


def test_decorated_call_is_a_child_of_the_current_span(spans: SpanCapture) -> None:
    @stage("inner")
    def inner() -> None: ...

    with trace.get_tracer("app").start_as_current_span("outer") as outer:
        inner()
    assert spans.one("inner").parent.span_id == outer.get_span_context().span_id  # type: ignore[union-attr]


def test_partial_and_callable_objects_can_be_decorated(spans: SpanCapture) -> None:
    def add(x: int, y: int) -> int:
        return x + y

    assert stage("p")(functools.partial(add, 1))(2) == 3
    assert spans.names() == ["p"]


def test_name_can_be_given_by_keyword(spans: SpanCapture) -> None:
    @workflow(name="w")
    def a() -> None: ...

    @stage(name="s")
    def b() -> None: ...

    @tool(name="t")
    def c() -> None: ...

    a(), b(), c()
    assert spans.names() == ["w", "s", "execute_tool t"]


def test_invalid_static_attributes_do_not_break_the_call(spans: SpanCapture) -> None:
    @stage("s", attributes={"bad": object(), "fine": 1})  # type: ignore[dict-item]
    def call() -> int:
        return 7

    assert call() == 7
    assert dict(spans.one("s").attributes or {})["fine"] == 1


def test_request_parameters_are_recorded_only_when_passed(spans: SpanCapture) -> None:
    @llm(provider="openai")
    def chat(**kwargs: object) -> dict[str, object]:
        return {}

    chat(model="m", messages=[], temperature=1, top_p=0.5, max_completion_tokens=9, stream=False)
    chat(model="m", messages=[], max_tokens=True, max_output_tokens=7)  # bool is no count
    chat(model="m", messages=[])
    assert spans.names() == ["chat m"] * 3  # named by the call's model
    full, second, bare = (dict(s.attributes or {}) for s in spans)
    assert full[a.GEN_AI_REQUEST_TEMPERATURE] == 1.0 and full[a.GEN_AI_REQUEST_TOP_P] == 0.5
    assert full[a.GEN_AI_REQUEST_MAX_TOKENS] == 9 and full[a.GEN_AI_REQUEST_STREAM] is False
    assert second[a.GEN_AI_REQUEST_MAX_TOKENS] == 7
    assert not any(k.startswith("gen_ai.request.") and k != a.GEN_AI_REQUEST_MODEL for k in bare)


def test_a_type_once_returned_as_a_value_is_still_checked_for_streams_per_type(
    spans: SpanCapture,
) -> None:
    class Answer:
        pass

    class Chunks:
        def __iter__(self) -> Iterator[str]:
            return self

        def __next__(self) -> str:
            raise StopIteration

    @llm(provider="openai")
    def call(stream: bool) -> object:
        return Chunks() if stream else Answer()

    assert isinstance(call(False), Answer) and isinstance(call(False), Answer)
    assert spans.names() == ["chat", "chat"]  # both ended at return: Answer is no stream
    streamed = call(True)
    assert not isinstance(streamed, Chunks) and len(spans) == 2  # proxied: the span stays open
    assert list(streamed) == [] and len(spans) == 3
