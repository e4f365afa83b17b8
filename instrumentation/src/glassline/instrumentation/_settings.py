"""Process-wide SDK settings read by the decorators; set by :func:`init`, defaults from env."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from glassline.pricing import ModelPrice

__all__ = ["STATE", "Settings", "current", "env_bool", "replace"]

_FALSE = {"0", "false", "no", "off"}
_TRUE = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool, *, strict: bool = False) -> bool:
    """A boolean environment variable: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/
    ``off``. Another value is ``default``, or with ``strict`` a ValueError naming ``name``:
    ``GLASSLINE_CAPTURE_CONTENT=disabled`` must not leave content captured unnoticed."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    if strict:
        raise ValueError(f"{name}: expected true or false (1/0, yes/no, on/off), got {raw!r}")
    return default


def _env_count(name: str, default: int, *, strict: bool) -> int:
    """A count of 0 or more; another value is ``default``, or with ``strict`` a ValueError."""
    raw = os.environ.get(name, "").strip()
    if raw.isdigit():
        return int(raw)
    if raw and strict:
        raise ValueError(f"{name}: expected a whole number >= 0, got {raw!r}")
    return default


@dataclass(frozen=True, slots=True)
class Settings:
    """What the decorators need at call time."""

    capture_content: bool = True
    redactor: Callable[[str], str] | None = None
    max_content_chars: int = 16_384
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)

    @classmethod
    def from_env(cls, *, strict: bool = False) -> Settings:
        """Defaults overridden by ``GLASSLINE_CAPTURE_CONTENT`` and ``GLASSLINE_MAX_CONTENT_CHARS``;
        ``strict`` (at :func:`init`): a ValueError naming a variable with a value it cannot
        take, where importing the SDK must not fail and keeps the default."""
        return cls(
            capture_content=env_bool("GLASSLINE_CAPTURE_CONTENT", True, strict=strict),
            max_content_chars=_env_count("GLASSLINE_MAX_CONTENT_CHARS", 16_384, strict=strict),
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
