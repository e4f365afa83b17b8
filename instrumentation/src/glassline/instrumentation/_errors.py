"""An exception on a span: its type, message and stack trace, bounded, whatever the exception.

OpenTelemetry's ``record_exception`` calls ``str(exc)`` unguarded and keeps texts whole. An
exception whose ``__str__`` raised made the span never end (lost); one carrying a 20 MB message
(an upstream error body, a dataframe's repr) made a span over any collector's request limit.
"""

from __future__ import annotations

import traceback

from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_ESCAPED,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import Span, Status, StatusCode

from glassline.semconv import attributes as attrs

__all__ = ["MAX_ERROR_CHARS", "record_error"]

# The collector's default max_attribute_length: it would cut a longer text there anyway.
MAX_ERROR_CHARS = 16_384


def _bounded(values: dict[str, str]) -> dict[str, str | int]:
    """``values`` cut to ``MAX_ERROR_CHARS``, with the SDK's record of each cut text's length
    (``glassline.truncated.<key>``, as captured content has)."""
    out: dict[str, str | int] = dict(values)
    for key, text in values.items():
        if len(text) > MAX_ERROR_CHARS:
            out[key] = text[:MAX_ERROR_CHARS]
            out[attrs.TRUNCATED_PREFIX + key] = len(text)
    return out


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # the app's own __str__ failed: say so, as Python's tracebacks do
        return "<exception str() failed>"


def record_error(span: Span, exc: BaseException, name: str | None = None) -> None:
    """Mark ``span`` failed by ``exc`` (``name``: its error type, else the class's name); an
    ``Exception`` also gets the convention's ``exception`` event with its stack trace."""
    name = name or type(exc).__qualname__
    message = _message(exc)
    span.set_attribute(attrs.ERROR_TYPE, name)
    if isinstance(exc, Exception):  # the event record_exception would add, bounded
        kind = type(exc)
        module = kind.__module__
        texts = {
            EXCEPTION_TYPE: kind.__qualname__
            if module in ("builtins", None)
            else f"{module}.{kind.__qualname__}",
            EXCEPTION_MESSAGE: message,
            EXCEPTION_STACKTRACE: "".join(traceback.format_exception(exc)),
            EXCEPTION_ESCAPED: "False",
        }
        span.add_event("exception", _bounded(texts))
    span.set_status(Status(StatusCode.ERROR, message[:MAX_ERROR_CHARS] or name))
