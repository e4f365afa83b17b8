"""Retries with exponential backoff and full jitter, each attempt a child span.

``@retry`` makes one span ``retry {name}`` per call, with one child ``attempt {n}`` span per
attempt (``glassline.retry.attempt``, ``.reason`` = why the previous attempt failed,
``.backoff_ms`` = the wait before this attempt). The parent gets ``glassline.retry.count``
(retries made) and ``glassline.retry.outcome``. A ``Retry-After`` on the exception (an
``openai``/``anthropic``/``httpx`` response header, or a ``retry_after`` attribute) replaces
the jittered delay. :func:`record_retry` records attempts made by a library's own retry loop.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _context, _safe
from glassline.instrumentation._errors import record_error
from glassline.instrumentation._lifecycle import _TRACER
from glassline.semconv import attributes as attrs
from glassline.semconv.attributes import SpanKinds

__all__ = ["record_retry", "retry", "retry_after_seconds"]

F = TypeVar("F", bound=Callable[..., Any])


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds asked for by the exception's ``Retry-After``/``retry-after-ms``, if any."""
    direct = getattr(exc, "retry_after", None)
    if isinstance(direct, int | float) and not isinstance(direct, bool) and direct >= 0:
        return float(direct)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except Exception:  # a malformed header is the server's problem, not the caller's
        return None


@dataclass(frozen=True, slots=True)
class _Policy:
    max_attempts: int
    base_delay: float
    max_delay: float
    max_retry_after: float
    retry_on: tuple[type[BaseException], ...]
    retryable: Callable[[BaseException], bool] | None

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        if attempt >= self.max_attempts or not isinstance(exc, self.retry_on):
            return False
        return self.retryable is None or bool(self.retryable(exc))

    def delay(self, exc: BaseException, attempt: int) -> float:
        asked = retry_after_seconds(exc)
        if asked is not None:
            return min(asked, self.max_retry_after)
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^(n-1))].
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class _Run:
    """Spans of one retried call; every method swallows telemetry errors."""

    def __init__(self, name: str) -> None:
        self.parent: Span | None = None
        self.token: object = None
        try:
            self.parent = _TRACER.start_span(
                f"retry {name}",
                attributes={**_context.current_attributes(), attrs.SPAN_KIND: SpanKinds.OTHER},
            )
        except Exception as exc:
            _safe.report("retry span", exc)

    def attempt(self, n: int, backoff_s: float, reason: str | None) -> Span | None:
        if self.parent is None:
            return None
        try:
            ctx = trace.set_span_in_context(self.parent)
            span = _TRACER.start_span(
                f"attempt {n}", context=ctx, attributes=_attempt_attrs(n, backoff_s, reason)
            )
            return span
        except Exception as exc:
            _safe.report("retry attempt span", exc)
            return None

    def finish(self, outcome: str, attempts: int, exc: BaseException | None = None) -> None:
        if self.parent is None:
            return
        try:
            self.parent.set_attribute(attrs.RETRY_COUNT, attempts - 1)
            self.parent.set_attribute(attrs.RETRY_OUTCOME, outcome)
            if exc is not None:
                record_error(self.parent, exc)
            self.parent.end()
        except Exception as err:
            _safe.report("retry span end", err)


def _attempt_attrs(n: int, backoff_s: float, reason: str | None) -> dict[str, AttributeValue]:
    values: dict[str, AttributeValue] = {
        **_context.current_attributes(),
        attrs.SPAN_KIND: SpanKinds.RETRY_ATTEMPT,
        attrs.RETRY_ATTEMPT: n,
        attrs.RETRY_BACKOFF_MS: round(backoff_s * 1000, 3),
    }
    if reason is not None:
        values[attrs.RETRY_REASON] = reason
    return values


def _use(span: Span | None) -> Any:
    # The attempt span is made current without use_span's own exception recording (ours does).
    return trace.use_span(
        span or trace.INVALID_SPAN,
        end_on_exit=False,
        record_exception=False,
        set_status_on_exception=False,
    )


def _end(span: Span | None, exc: BaseException | None) -> None:
    if span is None:
        return
    try:
        if exc is not None:
            record_error(span, exc)
        span.end()
    except Exception as err:
        _safe.report("retry attempt end", err)


def retry(
    max_attempts: int = 3,
    *,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    max_retry_after: float = 60.0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    retryable: Callable[[BaseException], bool] | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Retry a sync or async function on ``retry_on`` exceptions passing ``retryable``.

    The last exception is re-raised unchanged when attempts are exhausted or it is not
    retryable. ``Retry-After`` on the exception wins over the jittered delay (capped at
    ``max_retry_after`` seconds)::

        @retry(max_attempts=4, base_delay=0.2, retry_on=(openai.RateLimitError,))
        @llm(provider="openai")
        def chat(*, model, messages): ...
    """
    if max_attempts < 1:
        raise ValueError(f"retry.max_attempts: must be >= 1, got {max_attempts!r}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("retry.base_delay and retry.max_delay: must be >= 0")
    policy = _Policy(
        max_attempts,
        base_delay,
        max_delay,
        max_retry_after,
        retry_on if isinstance(retry_on, tuple) else (retry_on,),
        retryable,
    )

    def decorate(fn: F) -> F:
        label = name or fn.__qualname__
        if inspect.iscoroutinefunction(fn):
            return cast(F, functools.wraps(fn)(_async_loop(fn, policy, label)))
        return cast(F, functools.wraps(fn)(_sync_loop(fn, policy, label)))

    return decorate


def _sync_loop(fn: Callable[..., Any], policy: _Policy, label: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run, backoff, reason = _Run(label), 0.0, None
        for n in range(1, policy.max_attempts + 1):
            span = run.attempt(n, backoff, reason)
            try:
                with _use(span):
                    result = fn(*args, **kwargs)
            except BaseException as exc:
                _end(span, exc)
                if not policy.should_retry(exc, n):
                    run.finish(_outcome(exc, n, policy), n, exc)
                    raise
                backoff, reason = policy.delay(exc, n), type(exc).__qualname__
                time.sleep(backoff)
                continue
            _end(span, None)
            run.finish("success", n)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _async_loop(fn: Callable[..., Any], policy: _Policy, label: str) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        run, backoff, reason = _Run(label), 0.0, None
        for n in range(1, policy.max_attempts + 1):
            span = run.attempt(n, backoff, reason)
            try:
                with _use(span):
                    result = await fn(*args, **kwargs)
            except BaseException as exc:
                _end(span, exc)
                if not policy.should_retry(exc, n):
                    run.finish(_outcome(exc, n, policy), n, exc)
                    raise
                backoff, reason = policy.delay(exc, n), type(exc).__qualname__
                await asyncio.sleep(backoff)
                continue
            _end(span, None)
            run.finish("success", n)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def _outcome(exc: BaseException, attempt: int, policy: _Policy) -> str:
    retryable = isinstance(exc, policy.retry_on) and (
        policy.retryable is None or policy.retryable(exc)
    )
    return "exhausted" if retryable and attempt >= policy.max_attempts else "not_retryable"


def record_retry(
    *,
    attempt: int,
    reason: str | None = None,
    backoff_ms: float | None = None,
    error: BaseException | None = None,
) -> None:
    """Record one attempt of a library's own retry loop as a child of the current span.

    ``attempt`` is 1-based; the current span's ``glassline.retry.count`` becomes
    ``attempt - 1``. For example with tenacity::

        @tenacity.retry(before_sleep=lambda s: record_retry(
            attempt=s.attempt_number + 1, reason=type(s.outcome.exception()).__name__,
            backoff_ms=s.next_action.sleep * 1000))
    """
    try:
        span = _TRACER.start_span(
            f"attempt {attempt}",
            attributes=_attempt_attrs(attempt, (backoff_ms or 0.0) / 1000, reason),
        )
        _end(span, error)
        trace.get_current_span().set_attribute(attrs.RETRY_COUNT, max(0, attempt - 1))
    except Exception as exc:
        _safe.report("record_retry", exc)
