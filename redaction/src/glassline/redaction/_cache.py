"""Results of texts already redacted, kept within a character budget (least recently used out).

LLM traffic repeats itself: a chat client resends the whole conversation with every turn and
the same system prompt opens every call, so the same texts reach the redactor again and
again. Their results are deterministic (same text, same configuration), so each is analysed
once per process while it stays here. The raw text is not kept: entries are keyed by its
BLAKE2b digest, so the cache holds only redacted results.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from hashlib import blake2b
from typing import Generic, TypeVar

__all__ = ["Key", "ResultCache", "key"]

_R = TypeVar("_R")
Key = tuple[bytes, int]


def key(text: str, mode: int) -> Key:
    """The cache key of ``text``: its digest (computed once per text, for both get and put)."""
    # surrogatepass: a lone surrogate is a valid str here and must not make the lookup raise.
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), mode


class ResultCache(Generic[_R]):
    """An LRU map from :func:`key` of ``(text, names mode)`` to a result, bounded by characters.

    Each entry counts the length of its text (its result is about as long). Thread-safe:
    pipeline threads of one collector process share it.
    """

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Key, tuple[_R, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> _R | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Key, size: int, result: _R) -> None:
        """Keep ``result`` of a text of ``size`` characters under ``key``."""
        if size > self.max_chars:
            return  # would evict everything else for one text
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.chars -= old[1]
            self._entries[key] = (result, size)
            self.chars += size
            while self.chars > self.max_chars:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.chars -= evicted
