"""Which attributes are scanned, and which are structural (ids, model names, enums)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from glassline.redaction.config import ScopeConfig

__all__ = ["Scope"]

_CACHE_LIMIT = 4096  # attribute names come from clients: bound the memo


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    parts = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(parts) if parts else r"(?!)")


class Scope:
    """Answers "is this attribute scanned?" and "is it an allow-listed structural key?"."""

    def __init__(self, config: ScopeConfig) -> None:
        self._include = _compile(config.include)
        self._exclude = _compile(config.exclude)
        self._structural = _compile(config.structural)
        self._strict = _compile(config.strict)
        self._memo: dict[str, tuple[bool, bool, bool]] = {}

    def scanned(self, name: str) -> bool:
        """Whether the attribute ``name`` is analysed at all (every one, by default)."""
        return self.classify(name)[0]

    def structural(self, name: str) -> bool:
        """Whether ``name`` is allow-listed: identifier-shaped values skip the names detector."""
        return self.classify(name)[1]

    def strict(self, name: str) -> bool:
        """Whether a value of ``name`` not shaped like an identifier is replaced whole."""
        return self.classify(name)[2]

    def classify(self, name: str) -> tuple[bool, bool, bool]:
        """(:meth:`scanned`, :meth:`structural`, :meth:`strict`) in one memoised lookup."""
        hit = self._memo.get(name)
        if hit is None:
            scanned = bool(self._include.match(name)) and not self._exclude.match(name)
            hit = (scanned, bool(self._structural.match(name)), bool(self._strict.match(name)))
            if len(self._memo) >= _CACHE_LIMIT:
                self._memo.clear()
            self._memo[name] = hit
        return hit
