"""One hooked client call: recorded on the current ``@llm`` span, or on a span of its own.

A patched client method (``clients.py``) runs :func:`sync_call` or :func:`async_call`. What it
finds in the context under ``CURRENT_LLM_CALL`` decides where the call is recorded:

* an ``@llm`` call that no client call has claimed yet: the request, the response (or the
  whole stream) and the cost go onto that span, whatever the decorated function returns;
* ``INSIDE_CLIENT_CALL``: this call is made by another hooked client call (LiteLLM calling
  the openai client), which records it: the call passes straight through;
* nothing, or an ``@llm`` span already claimed: a new span ``{operation} {model}``.

So one model call is never two spans. Like the decorators, nothing here raises into the app.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from glassline.instrumentation import _safe
from glassline.instrumentation._lifecycle import (
    CLIENT_CALL,
    CURRENT_LLM_CALL,
    INSIDE_CLIENT_CALL,
    SpanSpec,
    _Call,
    begin,
)
from glassline.instrumentation._llm import LLMHandler
from glassline.instrumentation._streams import NOT_STREAMS, PLAIN, wrap_result
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import SpanKinds

__all__ = ["Target", "async_call", "sync_call"]


@dataclass(frozen=True, slots=True)
class Target:
    """One hooked client method: who provides the model and which operation it performs."""

    provider: str | None
    operation: str
    # The provider from the call's arguments (LiteLLM's ``model="anthropic/..."``), if any.
    provider_of: Callable[[dict[str, Any]], str | None] | None = None

    def spec(self, kwargs: dict[str, Any]) -> SpanSpec:
        provider = self.provider_of(kwargs) if self.provider_of is not None else self.provider
        static: dict[str, Any] = {
            attrs.SPAN_KIND: SpanKinds.LLM,
            attrs.GEN_AI_OPERATION_NAME: self.operation,
        }
        if provider:
            static[attrs.GEN_AI_PROVIDER_NAME] = provider
        return SpanSpec(
            name=self.operation,
            kind=SpanKind.CLIENT,
            attributes=static,
            handler=lambda: LLMHandler(provider, None, self.operation),
            slot=CLIENT_CALL,
        )


def _owner(target: Target, kwargs: dict[str, Any]) -> _Call | object | None:
    """The ``@llm`` call to report to, ``INSIDE_CLIENT_CALL``, or None (a span of its own)."""
    found = otel_context.get_value(CURRENT_LLM_CALL)
    if found is INSIDE_CLIENT_CALL:
        return found
    if not isinstance(found, _Call) or found.ended:
        return None
    handler = found.handler
    if not isinstance(handler, LLMHandler) or handler.claimed:
        return None
    handler.claimed = True
    return found


def sync_call(target: Target, original: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run ``original(*args, **kwargs)`` recorded as one model call."""
    try:
        owner = _owner(target, kwargs)
    except Exception as exc:
        _safe.report("client hook", exc)
        return original(*args, **kwargs)
    if owner is INSIDE_CLIENT_CALL:
        return original(*args, **kwargs)
    if owner is not None:
        joined = _Joined.begin(owner, target, kwargs)  # type: ignore[arg-type]
        joined.attach()
        try:
            value = original(*args, **kwargs)
        except BaseException:
            joined.release()
            raise
        finally:
            joined.detach()
        return joined.result(value)
    call = begin(target.spec(kwargs), (), kwargs)
    if call is None:
        return original(*args, **kwargs)
    try:
        value = original(*args, **kwargs)
    except BaseException as exc:
        call.detach()
        call.end(exc)
        raise
    call.detach()
    return _finish(call, value)


async def async_call(
    target: Target, original: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """The ``async`` twin of :func:`sync_call`."""
    try:
        owner = _owner(target, kwargs)
    except Exception as exc:
        _safe.report("client hook", exc)
        return await original(*args, **kwargs)
    if owner is INSIDE_CLIENT_CALL:
        return await original(*args, **kwargs)
    if owner is not None:
        joined = _Joined.begin(owner, target, kwargs)  # type: ignore[arg-type]
        joined.attach()
        try:
            value = await original(*args, **kwargs)
        except BaseException:
            joined.release()
            raise
        finally:
            joined.detach()
        return joined.result(value)
    call = begin(target.spec(kwargs), (), kwargs)
    if call is None:
        return await original(*args, **kwargs)
    try:
        value = await original(*args, **kwargs)
    except BaseException as exc:
        call.detach()
        call.end(exc)
        raise
    call.detach()
    return _finish(call, value)


def _parsed(value: Any) -> Any:
    """What to read of ``value``: a raw HTTP response (``with_raw_response``) is parsed.

    The client caches the parsed body, so the app's own ``parse()`` gets the same object.
    """
    if not type(value).__name__.endswith("APIResponse"):
        return value
    try:
        return value.parse()
    except Exception as exc:
        _safe.report("raw response parse", exc)
        return None


def _finish(call: _Call, value: Any) -> Any:
    """End the hook's own span with ``value`` (a stream keeps it open); returns ``value``."""
    readable = _parsed(value)
    if readable is value:
        return call.result(value)
    attributes: dict[str, Any] = {}
    try:
        if isinstance(call.handler, LLMHandler):
            attributes = call.handler.result(readable)
    except Exception as exc:
        _safe.report("result extraction", exc)
    call.end(attributes=attributes)
    return value


class _Joined:
    """A client call recorded on an ``@llm`` span it does not own: it never ends that span.

    Has the interface the stream proxies expect of a call (``chunk``, ``end``, ``ended``).
    """

    __slots__ = ("ended", "handler", "on_chunk", "owner", "t0", "token")

    def __init__(self, owner: _Call, handler: LLMHandler) -> None:
        self.owner = owner
        self.handler = handler
        self.ended = False
        self.on_chunk: Callable[[Any], None] | None = None
        self.t0 = time.monotonic_ns()
        self.token: object = None

    @classmethod
    def begin(cls, owner: _Call, target: Target, kwargs: dict[str, Any]) -> _Joined:
        spec = target.spec(kwargs)
        handler = spec.handler() if spec.handler is not None else None
        assert isinstance(handler, LLMHandler)
        joined = cls(owner, handler)
        try:
            request = dict(handler.start((), kwargs))
            owner_handler = owner.handler
            if isinstance(owner_handler, LLMHandler):
                if owner_handler.model is None and handler.name:
                    owner.span.update_name(handler.name)  # the decorator did not know the model
                if owner_handler.provider is None and handler.provider is not None:
                    request[attrs.GEN_AI_PROVIDER_NAME] = handler.provider
            owner.span.set_attributes(request)
        except Exception as exc:
            _safe.report("client hook request", exc)
        return joined

    def release(self) -> None:
        """The call failed: a retry inside the same ``@llm`` call may report instead."""
        handler = self.owner.handler
        if isinstance(handler, LLMHandler):
            handler.claimed = False

    def result(self, value: Any) -> Any:
        """Record ``value`` on the owner's span; a stream is recorded when it ends (proxy)."""
        try:
            if not isinstance(value, PLAIN) and type(value) not in NOT_STREAMS:
                proxy = wrap_result(value, self)
                if proxy is not None:
                    return proxy
            self.ended = True
            self.owner.span.set_attributes(self.handler.result(_parsed(value)))
        except Exception as exc:
            _safe.report("client hook result", exc)
        return value

    def folder(self, first: Any) -> Callable[[Any], None] | None:
        """The per-chunk function of the stream, chosen by its first chunk (asked once)."""
        if self.on_chunk is None:
            self.on_chunk = self.handler.stream(self.t0, first)
        return self.on_chunk

    def chunk(self, item: Any) -> None:
        try:
            on_chunk = self.on_chunk if self.on_chunk is not None else self.folder(item)
            if on_chunk is not None:
                on_chunk(item)
        except Exception as exc:
            _safe.report("stream chunk extraction", exc)

    def end(
        self, exc: BaseException | None = None, streamed: bool = False, *, final: Any = None
    ) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            if self.on_chunk is None and final is None:
                return
            self.owner.span.set_attributes(self.handler.stream_end(final))
        except Exception as err:
            _safe.report("stream end extraction", err)

    def attach(self) -> None:
        """Mark the context as inside this client call (a stream helper's request)."""
        self.token = otel_context.attach(
            otel_context.set_value(CURRENT_LLM_CALL, INSIDE_CLIENT_CALL)
        )

    def detach(self) -> None:
        otel_context.detach(self.token)  # type: ignore[arg-type]
