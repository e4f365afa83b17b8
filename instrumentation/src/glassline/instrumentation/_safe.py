"""Swallow-and-log-once for telemetry code: the SDK must never break the application."""

from __future__ import annotations

import logging
import threading

_log = logging.getLogger("glassline.instrumentation")
_seen: set[str] = set()
_lock = threading.Lock()


def report(where: str, exc: BaseException | None = None) -> None:
    """Log an internal failure at WARNING the first time per ``where``, at DEBUG after.

    ``where`` names the failing step; the payload is never logged (it may hold user content).
    """
    with _lock:
        first = where not in _seen
        _seen.add(where)
    level = logging.WARNING if first else logging.DEBUG
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    _log.log(level, "glassline telemetry error in %s (ignored) %s", where, detail, exc_info=first)


def _reset_for_tests() -> None:
    with _lock:
        _seen.clear()
