"""``@workflow``, ``@stage``, ``@llm`` and ``@tool``: each call of the function is one span.

Every decorator works with or without parentheses, on functions, methods, coroutines,
generators and async generators, and leaves ``functools.wraps`` metadata and
``inspect.signature`` as they were. Without a configured TracerProvider the spans are the
OpenTelemetry API's no-op spans.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, overload

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _content, _settings
from glassline.instrumentation._budget import BudgetCheck, guarded
from glassline.instrumentation._context import identity
from glassline.instrumentation._extract import get
from glassline.instrumentation._lifecycle import LLM_SLOT, SpanSpec, instrument
from glassline.instrumentation._llm import LLMHandler
from glassline.instrumentation.evaluations import Prompt, prompt_attributes
from glassline.instrumentation.guard import BudgetGuard
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import Operations, SpanKinds

__all__ = ["from_arg", "llm", "stage", "tool", "workflow"]

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


class from_arg:
    """Take an id from a named argument of each call: ``user=from_arg("request.user_id")``.

    The first path segment names a parameter of the decorated function (checked when the
    function is decorated); further segments read attributes or mapping keys of its value.
    """

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path.split(".")


IdSource = str | from_arg | None


def _resolver(
    fn: Callable[..., Any], source: from_arg
) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    params = list(inspect.signature(fn).parameters.values())
    names = [p.name for p in params]
    head, rest = source.path[0], source.path[1:]
    if head not in names:
        raise TypeError(
            f"from_arg({'.'.join(source.path)!r}): {fn.__qualname__} has no parameter {head!r}"
        )
    param = params[names.index(head)]
    index = names.index(head) if param.kind is not param.KEYWORD_ONLY else None
    default = None if param.default is param.empty else param.default

    def resolve(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if head in kwargs:
            value = kwargs[head]
        elif index is not None and index < len(args):
            value = args[index]
        else:
            value = default
        for key in rest:
            value = get(value, key)
        return value

    return resolve


def _identity_from_call(
    fn: Callable[..., Any], tenant: IdSource, user: IdSource, session: IdSource
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, str]] | None:
    sources = {
        attrs.TENANT_ID: tenant,
        attrs.USER_ID: user,
        attrs.SESSION_ID: session,
    }
    dynamic = {k: _resolver(fn, v) for k, v in sources.items() if isinstance(v, from_arg)}
    if not dynamic:
        return None

    def compute(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, resolve in dynamic.items():
            value = resolve(args, kwargs)
            if value is not None:
                out[key] = str(value)
        return out

    return compute


def _static(value: IdSource) -> str | None:
    return value if isinstance(value, str) else None


def _apply(target: Any, build: Callable[[Callable[..., Any], str | None], F]) -> Any:
    """Support ``@deco``, ``@deco()`` and ``@deco("name")``."""
    if callable(target):
        return build(target, None)
    return lambda fn: build(fn, target)


@overload
def workflow(name: F, /) -> F: ...
@overload
def workflow(
    name: str | None = None,
    *,
    tenant: IdSource = None,
    user: IdSource = None,
    session: IdSource = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    budget: BudgetGuard | None = None,
    on_exceeded: Callable[..., Any] | None = None,
) -> Decorator[Any]: ...
def workflow(
    name: Any = None,
    *,
    tenant: IdSource = None,
    user: IdSource = None,
    session: IdSource = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    budget: BudgetGuard | None = None,
    on_exceeded: Callable[..., Any] | None = None,
) -> Any:
    """The root span of a request. Tenant, user and session: a string, or ``from_arg(...)``.

    The workflow name, tenant, user and session are stamped on every span beneath it::

        @workflow("answer", user=from_arg("user_id"), session=from_arg("session_id"))
        def answer(question: str, user_id: str, session_id: str) -> str: ...

    ``budget=guard`` checks the guard (kill switches, the tenant's and user's budgets) before
    the request runs; denied, it returns ``on_exceeded(*args, **kwargs)`` or raises
    ``BudgetExceeded``.
    """

    def build(fn: Callable[..., Any], given: str | None) -> Any:
        span_name = given or fn.__name__
        propagate: dict[str, AttributeValue] = {attrs.WORKFLOW: span_name}
        propagate.update(identity(_static(tenant), _static(user), _static(session)))
        spec = SpanSpec(
            name=span_name,
            kind=SpanKind.INTERNAL,
            attributes={
                attrs.SPAN_KIND: SpanKinds.WORKFLOW,
                attrs.GEN_AI_WORKFLOW_NAME: span_name,
                **(attributes or {}),
            },
            propagate=propagate,
            propagate_from_call=_identity_from_call(fn, tenant, user, session),
        )
        if budget is not None:
            fn = guarded(fn, BudgetCheck(budget, on_exceeded))
        return instrument(fn, spec)

    return _apply(name, build)


@overload
def stage(name: F, /) -> F: ...
@overload
def stage(
    name: str | None = None,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    prompt: Prompt | None = None,
) -> Decorator[Any]: ...
def stage(
    name: Any = None,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    prompt: Prompt | None = None,
) -> Any:
    """A pipeline step (``@stage("retrieve")``); its name is stamped on every span beneath it.

    ``prompt=("support-answer", "v7")`` (template name, version) is stamped beneath it too, so
    evaluations and spend roll up per prompt version.
    """
    versioned = prompt_attributes(prompt)

    def build(fn: Callable[..., Any], given: str | None) -> Any:
        span_name = given or fn.__name__
        spec = SpanSpec(
            name=span_name,
            kind=SpanKind.INTERNAL,
            attributes={attrs.SPAN_KIND: SpanKinds.STAGE, **(attributes or {}), **versioned},
            propagate={attrs.STAGE: span_name, **versioned},
        )
        return instrument(fn, spec)

    return _apply(name, build)


@overload
def llm(fn: F, /) -> F: ...
@overload
def llm(
    fn: None = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str = Operations.CHAT,
    attributes: Mapping[str, AttributeValue] | None = None,
    budget: BudgetGuard | None = None,
    on_exceeded: Callable[..., Any] | None = None,
    max_cost_usd: float | None = None,
    on_cap: Literal["refuse", "trim"] = "refuse",
    prompt: Prompt | None = None,
) -> Decorator[Any]: ...
def llm(
    fn: Any = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str = Operations.CHAT,
    attributes: Mapping[str, AttributeValue] | None = None,
    budget: BudgetGuard | None = None,
    on_exceeded: Callable[..., Any] | None = None,
    max_cost_usd: float | None = None,
    on_cap: Literal["refuse", "trim"] = "refuse",
    prompt: Prompt | None = None,
) -> Any:
    """A model call. Span ``{operation} {model}``, kind CLIENT, tokens and cost from the result.

    ``prompt=("support-answer", "v7")`` names the prompt template and its version.

    ``model=`` in the call's keyword arguments overrides the decorator's. A client call made
    inside it through an instrumented library (:func:`instrument_openai`, ...) is recorded on
    this span, whatever the function returns; otherwise return the provider's response (or
    stream), or hand it over with :func:`record_response`.

    Budgets: ``budget=guard`` asks the guard before the call, with the call's estimated cost
    (input length / 4 tokens and ``max_tokens`` at the model's price); ``max_cost_usd`` caps
    that estimate per call (``on_cap="refuse"`` denies, ``"trim"`` drops the oldest messages).
    A denied call returns ``on_exceeded(*args, **kwargs)`` or raises ``BudgetExceeded``.
    """
    static: dict[str, AttributeValue] = {
        attrs.SPAN_KIND: SpanKinds.LLM,
        attrs.GEN_AI_OPERATION_NAME: operation,
    }
    if provider:
        static[attrs.GEN_AI_PROVIDER_NAME] = provider
    static.update(attributes or {})
    static.update(prompt_attributes(prompt))
    static_name = f"{operation} {model}" if model else operation
    check = None
    if budget is not None or max_cost_usd is not None:
        check = BudgetCheck(
            budget, on_exceeded, max_cost_usd, on_cap, estimate=True, model=model, provider=provider
        )

    def build(target: Callable[..., Any], _: str | None) -> Any:
        spec = SpanSpec(
            name=static_name,
            kind=SpanKind.CLIENT,
            attributes=static,
            # partial: no Python frame per call
            handler=functools.partial(LLMHandler, provider, model, operation),
            slot=LLM_SLOT,  # a hooked client call inside reports onto this span
        )
        if check is not None:
            target = guarded(target, check)
        return instrument(target, spec)

    return _apply(fn, build)


class _ToolHandler:
    __slots__ = ("settings", "signature")
    name: str | None = None  # the decorator names the span

    def __init__(self, signature: inspect.Signature | None) -> None:
        self.signature = signature
        self.settings = _settings.STATE.settings

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.settings.capture_content and self.signature is not None:
            bound = self.signature.bind_partial(*args, **kwargs).arguments
            values = {k: v for k, v in bound.items() if k not in ("self", "cls")}
            _content.put_text(out, attrs.GEN_AI_TOOL_CALL_ARGUMENTS, values, self.settings)
        return out

    def result(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.settings.capture_content:
            _content.put_text(out, attrs.GEN_AI_TOOL_CALL_RESULT, value, self.settings)
        return out

    def stream(self, t0_ns: int, first: Any) -> None:
        return None

    def stream_end(self, final: Any = None) -> dict[str, Any]:
        return {}


@overload
def tool(name: F, /) -> F: ...
@overload
def tool(
    name: str | None = None, *, attributes: Mapping[str, AttributeValue] | None = None
) -> Decorator[Any]: ...
def tool(name: Any = None, *, attributes: Mapping[str, AttributeValue] | None = None) -> Any:
    """A tool the application runs (``@tool("search")``): span ``execute_tool {name}``.

    With content capture on, the call's arguments and result are recorded (redacted, truncated).
    """

    def build(fn: Callable[..., Any], given: str | None) -> Any:
        tool_name = given or fn.__name__
        try:
            signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None
        spec = SpanSpec(
            name=f"{Operations.EXECUTE_TOOL} {tool_name}",
            kind=SpanKind.INTERNAL,
            attributes={
                attrs.SPAN_KIND: SpanKinds.TOOL,
                attrs.GEN_AI_OPERATION_NAME: Operations.EXECUTE_TOOL,
                attrs.GEN_AI_TOOL_NAME: tool_name,
                **(attributes or {}),
            },
            handler=lambda: _ToolHandler(signature),
        )
        return instrument(fn, spec)

    return _apply(name, build)
