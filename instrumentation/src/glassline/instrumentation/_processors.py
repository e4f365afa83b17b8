"""Glassline's span processors, added once to the SDK TracerProvider in use.

:class:`Switchboard` is one processor on the provider that holds Glassline's own processors,
so :func:`shutdown` and :func:`testing.capture_spans` can remove theirs again (the SDK
provider cannot remove a processor). It also keeps one model call one span: a span that a
client library makes of its own (anthropic's built-in tracing) during a call Glassline's client
hooks record is that same call again, so it is not passed on to the exporters.
:class:`ContextStamp` copies the propagated attributes
(tenant, user, session, stage, workflow, route) onto spans started by OTHER libraries inside a
decorated call, so even foreign LLM spans roll up per user and per stage.
"""

from __future__ import annotations

import threading

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan

from glassline.instrumentation import _context, _safe
from glassline.instrumentation._lifecycle import CURRENT_LLM_CALL, INSIDE_CLIENT_CALL
from glassline.semconv import attributes as attrs

__all__ = ["ContextStamp", "Switchboard", "switchboard"]


class ContextStamp(SpanProcessor):
    """Stamps propagated attributes on spans that Glassline's decorators did not create."""

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        try:
            current = span.attributes
            if current is not None and attrs.SPAN_KIND in current:
                return  # ours: the decorator stamped it already
            for key, value in _context.current_attributes().items():
                if current is None or key not in current:
                    span.set_attribute(key, value)
        except Exception as exc:
            _safe.report("context stamp", exc)


_MAX_DUPLICATES = 10_000  # open duplicate spans remembered; a leak guard, never reached in use


def _duplicate(span: SdkSpan, parent_context: otel_context.Context | None) -> bool:
    """A GenAI span of another library started inside a hooked client call."""
    current = span.attributes
    if current is None or attrs.SPAN_KIND in current or attrs.GEN_AI_PROVIDER_NAME not in current:
        return False
    found = otel_context.get_value(CURRENT_LLM_CALL, parent_context or otel_context.get_current())
    return found is INSIDE_CLIENT_CALL


class Switchboard(SpanProcessor):
    """A processor whose children can be added and removed at run time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: tuple[SpanProcessor, ...] = (ContextStamp(),)
        self._duplicates: set[int] = set()

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._children = (*self._children, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._children = tuple(p for p in self._children if p is not processor)

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        try:
            if _duplicate(span, parent_context) and len(self._duplicates) < _MAX_DUPLICATES:
                self._duplicates.add(span.context.span_id)
                return
        except Exception as exc:
            _safe.report("duplicate span check", exc)
        for child in self._children:
            child.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._duplicates and span.context is not None:
            try:
                self._duplicates.remove(span.context.span_id)
                return
            except KeyError:
                pass
        for child in self._children:
            try:
                child.on_end(span)
            except Exception as exc:  # one broken exporter path must not stop the others
                _safe.report("span processor on_end", exc)

    def shutdown(self) -> None:
        for child in self._children:
            child.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(child.force_flush(timeout_millis) for child in self._children)


_lock = threading.Lock()
_boards: dict[int, Switchboard] = {}


def switchboard(provider: TracerProvider | None = None) -> Switchboard | None:
    """The switchboard of ``provider`` (default: the global one), added on first use.

    None when the global provider is not an SDK TracerProvider (then nothing can be added).
    """
    if provider is None:
        found = trace.get_tracer_provider()
        if not isinstance(found, TracerProvider):
            return None
        provider = found
    with _lock:
        board = _boards.get(id(provider))
        if board is None:
            board = Switchboard()
            provider.add_span_processor(board)
            _boards[id(provider)] = board
        return board
