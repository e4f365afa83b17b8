"""Query parameters of the HTTP API: parsed and checked, a mistake answered 400 naming it."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["BadParameter", "error", "forbidden", "number", "unknown"]


class BadParameter(Exception):
    """A query parameter the API cannot use; ``message`` says why."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter, self.message = parameter, message


def error(status: int, message: str, parameter: str | None = None) -> JSONResponse:
    """The JSON error answer: ``{"error": ..., "parameter": ...}``."""
    body: dict[str, Any] = {"error": message}
    if parameter:
        body["parameter"] = parameter
    return JSONResponse(body, status_code=status)


def unknown(params: Any, allowed: Collection[str]) -> JSONResponse | None:
    """The 400 naming the first of ``params`` not in ``allowed``, else None: a misspelt filter
    answered as if absent reads as "no such data" (or, on a DELETE, acts on more)."""
    extra = sorted(set(params) - set(allowed))
    return error(400, f"unknown parameter {extra[0]!r}", extra[0]) if extra else None


def forbidden(message: str) -> JSONResponse:
    """The 403 of a tenant key that names another tenant: ``{"error": "tenant: ..."}``."""
    return error(403, f"tenant: {message}", "tenant")


def number(
    params: Any, name: str, cast: Callable[[str], Any], minimum: float, maximum: float | None = None
) -> Any:
    """``params[name]`` as ``cast`` gives it, within the bounds; None when absent."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = cast(raw)
    except ValueError:
        raise BadParameter(name, f"must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value):  # NaN compares false with everything: it would pass below
        raise BadParameter(name, "must be a finite number")
    if value < minimum:
        raise BadParameter(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise BadParameter(name, f"must be at most {maximum}")
    return value
