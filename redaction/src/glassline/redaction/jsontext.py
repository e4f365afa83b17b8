"""JSON that a client sent inside a string, read as data only when it is plain data.

Span attributes often hold JSON (message lists, tool arguments, a framework's inputs), and
several readers parse it: redaction first, then search, stored content, normalization, the
dashboard. ``json.loads`` raises ``RecursionError``, not ``ValueError``, for arrays nested
about a thousand deep, and structures a few hundred deep overflow the recursive walks that
read them: one such 1 KB value failed its whole batch, retryably, so the exporter sent it
again for ever. :func:`parse` refuses both as not JSON; every reader then takes the value as
the text it is, and all of them agree on which values are JSON.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_NESTING", "parse"]

MAX_NESTING = 64  # arrays and objects within each other; message lists need fewer than 10


def parse(text: str) -> Any:
    """``json.loads(text)``; ``ValueError`` if ``text`` is not JSON or nests arrays and objects
    more than :data:`MAX_NESTING` deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # Fewer brackets than the limit cannot nest deeper than it: most values stop here.
    if text.count("[") + text.count("{") > MAX_NESTING and _deeper_than(value, MAX_NESTING):
        raise ValueError(f"JSON nested more than {MAX_NESTING} deep")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` deep (no recursion)."""
    containers = (list, dict)
    stack = [(value, 1)] if isinstance(value, containers) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return False
