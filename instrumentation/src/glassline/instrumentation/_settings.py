"""Process-wide SDK settings read by the decorators; set by :func:`init`, defaults from env."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from glassline.pricing import ModelPrice

__all__ = ["STATE", "Settings", "current", "env_bool", "replace"]

_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """A boolean environment variable (``false``/``0``/``no``/``off`` are false)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return raw.strip().lower() not in _FALSE


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class Settings:
    """What the decorators need at call time."""

    capture_content: bool = True
    redactor: Callable[[str], str] | None = None
    max_content_chars: int = 16_384
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults overridden by ``GLASSLINE_CAPTURE_CONTENT`` and ``GLASSLINE_MAX_CONTENT_CHARS``."""
        return cls(
            capture_content=env_bool("GLASSLINE_CAPTURE_CONTENT", True),
            max_content_chars=max(0, _env_int("GLASSLINE_MAX_CONTENT_CHARS", 16_384)),
        )


class _State:
    __slots__ = ("settings",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


# The settings in force: ``STATE.settings``, read by every decorated call (an attribute read,
# where calling ``current()`` would cost a Python frame).
STATE = _State(Settings.from_env())


def current() -> Settings:
    """The settings in force."""
    return STATE.settings


def replace(settings: Settings) -> None:
    """Install new settings (one atomic reference swap, safe across threads)."""
    STATE.settings = settings
