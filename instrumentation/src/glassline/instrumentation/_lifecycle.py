"""One span lifecycle shared by every decorator: start, attach, stream, end exactly once.

:func:`instrument` picks the sync, async, generator or async-generator wrapper at decoration
time. All telemetry work goes through :class:`_Call`, whose methods never raise: a failure is
reported once through :mod:`._safe` and the function runs as if undecorated. The user's own
exceptions are recorded on the span and re-raised unchanged (bare ``raise``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _context, _safe
from glassline.instrumentation._errors import record_error
from glassline.instrumentation._streams import NOT_STREAMS, PLAIN, wrap_result

_SCOPE = ("glassline.instrumentation", "0.1.0")
_TRACER = trace.get_tracer(*_SCOPE)
_resolved: tuple[object, trace.Tracer] = (None, _TRACER)
# The tracer of the app's provider once one is set: OpenTelemetry lets the global provider be
# set only once, so from then on each span skips _tracer() (two Python calls).
_settled: trace.Tracer | None = None


def _tracer() -> trace.Tracer:
    """The tracer of the provider in force, fetched once per provider.

    ``_TRACER`` is a ProxyTracer when this module is imported before the app sets its provider
    (the usual order), and going through it costs a property and an argument re-pack per span.
    """
    global _resolved, _settled
    provider = trace.get_tracer_provider()
    if _resolved[0] is not provider:
        _resolved = (provider, provider.get_tracer(*_SCOPE))
        if not isinstance(provider, trace.ProxyTracerProvider):
            _settled = _resolved[1]
    return _resolved[1]


F = TypeVar("F", bound=Callable[..., Any])


class Handler(Protocol):
    """Per-call hooks of one span kind (e.g. LLM extraction); every hook may raise.

    Hooks return attributes rather than setting them, so each span gets them in one
    ``set_attributes`` call (every OpenTelemetry attribute write takes a lock and validates).
    """

    name: str | None  # the span's name if ``start`` chose one (None: the decorator's)

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]: ...
    def result(self, value: Any) -> Mapping[str, Any]: ...
    def stream(self, t0_ns: int, first: Any) -> Callable[[Any], None] | None:
        """Called once, with a stream's first chunk: the function each chunk (that one too)
        is passed to, chosen for the stream's shape (None: the chunks are not read)."""
        ...

    def stream_end(self, final: Any = None) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SpanSpec:
    """What a decorator knows at decoration time."""

    name: str
    kind: SpanKind
    attributes: Mapping[str, AttributeValue]
    propagate: Mapping[str, AttributeValue] = field(default_factory=dict)
    # Per-call propagated attributes computed from the call's arguments (workflow identity).
    propagate_from_call: Callable[[tuple[Any, ...], dict[str, Any]], dict[str, str]] | None = None
    handler: Callable[[], Handler] | None = None
    # What client hooks (``clients.py``) find in the call's context: LLM_SLOT, the call itself,
    # which a hooked client call inside it reports to; CLIENT_CALL, a client call under way,
    # inside which other hooked client calls (LiteLLM calling openai) pass straight through.
    slot: str | None = None


LLM_SLOT, CLIENT_CALL = "llm", "client"
# The context key client hooks read: a _Call of an @llm span, or INSIDE_CLIENT_CALL.
CURRENT_LLM_CALL = otel_context.create_key("glassline.llm_call")
INSIDE_CLIENT_CALL = object()


class _Call:
    """The telemetry state of one decorated call."""

    __slots__ = (
        "ctx",
        "ended",
        "handler",
        "on_chunk",
        "otel_token",
        "prop",
        "prop_token",
        "span",
        "t0",
    )

    def __init__(
        self, spec: SpanSpec, args: tuple[Any, ...], kwargs: dict[str, Any], attach: bool
    ) -> None:
        prop = _context.current_attributes()
        if spec.propagate or spec.propagate_from_call is not None:
            extra: dict[str, AttributeValue] = dict(spec.propagate)
            if spec.propagate_from_call is not None:
                extra.update(spec.propagate_from_call(args, kwargs))
            prop = {**prop, **extra}
        handler = self.handler = spec.handler() if spec.handler is not None else None
        start_attrs = {**prop, **spec.attributes} if prop else spec.attributes
        name = spec.name
        if handler is not None:
            try:
                start_attrs = {**start_attrs, **handler.start(args, kwargs)}
            except Exception as exc:
                _safe.report("request extraction", exc)
            name = handler.name or name
        self.span = (_settled or _tracer()).start_span(name, kind=spec.kind, attributes=start_attrs)
        self.prop = prop
        ctx = trace.set_span_in_context(self.span)
        if spec.slot is not None:
            slot = self if spec.slot == LLM_SLOT else INSIDE_CLIENT_CALL
            ctx = otel_context.set_value(CURRENT_LLM_CALL, slot, ctx)
        self.ctx = ctx
        self.ended = False
        self.t0 = time.monotonic_ns()
        self.on_chunk: Callable[[Any], None] | None = None
        if attach:  # as attach() does, written out: a method call would cost a frame
            self.otel_token: object = otel_context.attach(self.ctx)
            self.prop_token: object = _context.set_propagated(prop)
        else:
            self.otel_token = self.prop_token = None

    def attach(self) -> None:
        self.otel_token = otel_context.attach(self.ctx)
        self.prop_token = _context.set_propagated(self.prop)

    def detach(self) -> None:
        try:
            _context.reset(self.prop_token)  # type: ignore[arg-type]
            otel_context.detach(self.otel_token)  # type: ignore[arg-type]
        except Exception as exc:
            _safe.report("context detach", exc)

    def result(self, value: Any) -> Any:
        """Record a returned value; a returned stream keeps the span open (proxy returned)."""
        end_attrs: Mapping[str, Any] = {}
        try:
            # Plain values and types known not to be streams skip wrap_result (a call each).
            if not isinstance(value, PLAIN) and type(value) not in NOT_STREAMS:
                proxy = wrap_result(value, self)
                if proxy is not None:
                    return proxy
            if self.handler is not None:
                end_attrs = self.handler.result(value)
        except Exception as exc:
            _safe.report("result extraction", exc)
        self.end(attributes=end_attrs)
        return value

    def folder(self, first: Any) -> Callable[[Any], None]:
        """The handler's per-chunk function, asked for once per stream, with its first chunk."""
        if self.on_chunk is None:
            on_chunk = None
            if self.handler is not None:
                try:
                    on_chunk = self.handler.stream(self.t0, first)
                except Exception as exc:
                    _safe.report("stream start extraction", exc)
            self.on_chunk = on_chunk or _ignore
        return self.on_chunk

    def chunk(self, item: Any) -> None:
        on_chunk = self.on_chunk if self.on_chunk is not None else self.folder(item)
        try:
            on_chunk(item)
        except Exception as exc:
            _safe.report("stream chunk extraction", exc)

    def end(
        self,
        exc: BaseException | None = None,
        streamed: bool = False,
        *,
        attributes: Mapping[str, Any] | None = None,
        final: Any = None,
    ) -> None:
        """End the span once; later calls are no-ops.

        ``final``: a complete response a stream helper assembled, preferred over the chunks.
        """
        if self.ended:
            return
        self.ended = True
        try:
            if streamed and self.handler is not None:
                attributes = self.handler.stream_end(final)
        except Exception as err:
            _safe.report("stream end extraction", err)
        try:
            if attributes:
                self.span.set_attributes(attributes)
            if exc is not None:
                _record_error(self.span, exc)
        except Exception as err:
            _safe.report("span end", err)
        try:  # apart: a span that failed to take its attributes still ends, and is exported
            self.span.end()
        except Exception as err:
            _safe.report("span end", err)


def _ignore(chunk: Any) -> None:
    """The per-chunk function of a stream whose chunks are not read."""
    return None


def _record_error(span: Span, exc: BaseException) -> None:
    if isinstance(exc, GeneratorExit):  # an early close() is a normal end of a stream
        return
    record_error(span, exc, "cancelled" if _is_cancel(exc) else None)


def _is_cancel(exc: BaseException) -> bool:
    return type(exc).__name__ == "CancelledError"


def begin(
    spec: SpanSpec, args: tuple[Any, ...], kwargs: dict[str, Any], attach: bool = True
) -> _Call | None:
    """Start (and attach) a span; None when telemetry failed (the call then runs bare)."""
    try:
        return _Call(spec, args, kwargs, attach)
    except Exception as exc:
        _safe.report("span start", exc)
        return None


def instrument(fn: F, spec: SpanSpec) -> F:
    """Wrap ``fn`` (sync, async, generator or async generator) so each call is one span."""
    if inspect.isasyncgenfunction(fn):
        wrapper: Callable[..., Any] = _asyncgen_wrapper(fn, spec)
    elif inspect.isgeneratorfunction(fn):
        wrapper = _gen_wrapper(fn, spec)
    elif inspect.iscoroutinefunction(fn):
        wrapper = _async_wrapper(fn, spec)
    else:
        wrapper = _sync_wrapper(fn, spec)
    return cast(F, functools.wraps(fn)(wrapper))


def _sync_wrapper(fn: Callable[..., Any], spec: SpanSpec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, args, kwargs)
        if call is None:
            return fn(*args, **kwargs)
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:
            call.detach()
            call.end(exc)
            raise
        call.detach()
        return call.result(value)

    return wrapper


def _async_wrapper(fn: Callable[..., Any], spec: SpanSpec) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = begin(spec, args, kwargs)
        if call is None:
            return await fn(*args, **kwargs)
        try:
            value = await fn(*args, **kwargs)
        except BaseException as exc:
            call.detach()
            call.end(exc)
            raise
        call.detach()
        return call.result(value)

    return wrapper


def _gen_wrapper(fn: Callable[..., Any], spec: SpanSpec) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = begin(spec, args, kwargs, attach=False)
        if call is None:
            return (yield from fn(*args, **kwargs))
        return (yield from drive_generator(fn(*args, **kwargs), call))

    return wrapper


def drive_generator(gen: Generator[Any, Any, Any], call: _Call) -> Generator[Any, Any, Any]:
    """Run ``gen`` step by step inside a private context where the span is current.

    The generator's body sees its span (and its context changes persist across its steps),
    while the consumer's code between steps never does. ``Context.run`` per step is much
    cheaper than attaching and detaching the span around each chunk.
    """
    ctx = contextvars.copy_context()
    run = ctx.run
    run(call.attach)
    on_chunk = None
    step = gen.send  # bound once: this loop runs once per streamed chunk
    send: Any = None
    throw: BaseException | None = None
    while True:
        try:
            item = run(step, send) if throw is None else run(gen.throw, throw)
        except StopIteration as stop:
            call.end(streamed=True)
            return stop.value
        except BaseException as exc:
            call.end(exc, streamed=True)
            raise
        if on_chunk is None:
            on_chunk = call.folder(item)
        try:
            on_chunk(item)
        except Exception as exc:
            _safe.report("stream chunk extraction", exc)
        throw = None
        try:
            send = yield item
        except GeneratorExit:
            try:
                run(gen.close)
            finally:
                call.end(streamed=True)
            raise
        except BaseException as exc:  # thrown in by the consumer: pass it to the generator
            send, throw = None, exc


def _asyncgen_wrapper(fn: Callable[..., Any], spec: SpanSpec) -> Callable[..., Any]:
    # Inlined (no nested async generator) so asend/athrow/aclose reach the user's generator.
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = begin(spec, args, kwargs)
        if call is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        try:
            agen = fn(*args, **kwargs)
        finally:
            call.detach()
        send: Any = None
        throw: BaseException | None = None
        while True:
            call.attach()
            try:
                item = await (agen.asend(send) if throw is None else agen.athrow(throw))
            except StopAsyncIteration:
                call.detach()
                call.end(streamed=True)
                return
            except BaseException as exc:
                call.detach()
                call.end(exc, streamed=True)
                raise
            call.detach()
            call.chunk(item)
            send, throw = None, None
            try:
                send = yield item
            except GeneratorExit:
                try:
                    await agen.aclose()
                finally:
                    call.end(streamed=True)
                raise
            except BaseException as exc:  # thrown in by the consumer: pass it on
                throw = exc

    return wrapper
