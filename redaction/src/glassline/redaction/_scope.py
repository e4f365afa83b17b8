"""Which attributes are scanned, and how an attribute value becomes texts to analyse."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from typing import Any

from glassline.redaction.config import ScopeConfig

__all__ = ["Scope", "json_leaves"]

_CACHE_LIMIT = 4096  # attribute names come from clients: bound the memo


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    parts = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(parts) if parts else r"(?!)")


class Scope:
    """Answers "is this attribute scanned?" and "does it carry free text (for NER)?"."""

    def __init__(self, config: ScopeConfig) -> None:
        self._include = _compile(config.include)
        self._exclude = _compile(config.exclude)
        self._free_text = _compile(config.free_text)
        self._memo: dict[str, tuple[bool, bool]] = {}

    def classify(self, name: str) -> tuple[bool, bool]:
        """``(scanned, free_text)`` for the attribute ``name``."""
        hit = self._memo.get(name)
        if hit is None:
            scanned = bool(self._include.match(name)) and not self._exclude.match(name)
            hit = (scanned, scanned and bool(self._free_text.match(name)))
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[name] = hit
        return hit


def json_leaves(value: str) -> tuple[Any, list[tuple[Any, Any]]] | None:
    """Parse ``value`` if it holds a JSON object or array; return it and its string leaves.

    Each leaf is ``(container, key)`` so the caller can write the redacted string back.
    Object keys are structure (``"role"``, ``"content"``), not content, and are left alone.
    """
    head = value.lstrip()[:1]
    if head not in ("{", "["):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    leaves: list[tuple[Any, Any]] = []
    stack = [parsed]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, str):
                leaves.append((node, key))
            elif isinstance(child, dict | list):
                stack.append(child)
    return parsed, leaves
