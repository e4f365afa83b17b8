"""Point-in-time records inside a decorated call: cache lookups, route decisions, responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _context, _safe
from glassline.instrumentation._lifecycle import _TRACER
from glassline.instrumentation._llm import LLMHandler
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import SpanKinds

__all__ = ["record_cache", "record_response", "record_route"]


def record_cache(
    *,
    layer: str,
    hit: bool,
    key_hash: str | None = None,
    similarity: float | None = None,
) -> None:
    """Record one cache lookup as a short child span ``cache {layer}``.

    Each lookup is its own span so hit ratios count lookups, not the spans around them.
    Pass a hash of the key, never the key itself (it may hold user content).
    """
    try:
        values: dict[str, AttributeValue] = {
            attrs.SPAN_KIND: SpanKinds.OTHER,
            attrs.CACHE_LAYER: str(layer),
            attrs.CACHE_HIT: bool(hit),
        }
        if key_hash is not None:
            values[attrs.CACHE_KEY_HASH] = str(key_hash)
        if similarity is not None:
            values[attrs.CACHE_SIMILARITY] = float(similarity)
        prop = _context.current_attributes()
        span = _TRACER.start_span(f"cache {layer}", attributes={**prop, **values})
        span.end()
    except Exception as exc:
        _safe.report("record_cache", exc)


def record_route(
    *,
    chosen: str,
    candidates: Sequence[str] = (),
    reason: str | None = None,
    fallback_from: str | None = None,
) -> None:
    """Record a routing decision on the current span and on every span started after it.

    The route is stamped on later spans of the same enclosing decorated call (typically the
    ``@llm`` span that follows), so spend rolls up per route; it ends with that call.
    """
    try:
        values: dict[str, AttributeValue] = {attrs.ROUTE_CHOSEN: str(chosen)}
        if candidates:
            values[attrs.ROUTE_CANDIDATES] = [str(c) for c in candidates]
        if reason is not None:
            values[attrs.ROUTE_REASON] = str(reason)
        if fallback_from is not None:
            values[attrs.ROUTE_FALLBACK_FROM] = str(fallback_from)
        current = trace.get_current_span()
        current.set_attributes(values)
        current.add_event(attrs.ROUTE_EVENT, values)
        # Drop a previous route's fallback_from/reason so they never mix with this one.
        base = {
            k: v
            for k, v in _context.current_attributes().items()
            if not k.startswith("glassline.route.")
        }
        # Not reset here on purpose: the enclosing decorator's context reset ends its scope.
        _context.set_propagated({**base, **values})
    except Exception as exc:
        _safe.report("record_route", exc)


def record_response(
    response: Any, *, provider: str | None = None, model: str | None = None
) -> None:
    """Extract tokens, cost and output from ``response`` onto the current span.

    For an ``@llm`` function that returns something other than the provider's response::

        @llm(provider="openai")
        def chat(*, model: str, messages: list[dict[str, str]]) -> str:
            response = client.chat.completions.create(model=model, messages=messages)
            record_response(response, provider="openai", model=model)
            return response.choices[0].message.content or ""
    """
    try:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        current = getattr(span, "attributes", None) or {}
        provider = provider or _str_or_none(current.get(attrs.GEN_AI_PROVIDER_NAME))
        model = model or _str_or_none(current.get(attrs.GEN_AI_REQUEST_MODEL))
        span.set_attributes(LLMHandler(provider, model).result(response))
    except Exception as exc:
        _safe.report("record_response", exc)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
