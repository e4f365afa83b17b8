"""JSON that a client sent inside a string, read as data only when it is plain data.

Span attributes often hold JSON (message lists, tool arguments, a framework's inputs), and
several readers parse it: redaction first, then search, stored content, normalization, the
dashboard. ``json.loads`` raises ``RecursionError``, not ``ValueError``, for arrays nested
about a thousand deep, and structures a few hundred deep overflow the recursive walks that
read them: one such 1 KB value failed its whole batch, retryably, so the exporter sent it
again for ever. :func:`parse` refuses both as not JSON; every reader then takes the value as
the text it is, and all of them agree on which values are JSON.

JSON here is strict RFC 8259, read by orjson (a span's message lists are parsed three times
on the ingest path, and orjson takes a quarter of ``json.loads``' time): ``NaN``,
``Infinity`` and lone surrogates are not JSON. orjson reads integers of up to 64 bits
exactly and longer ones as floats; a text with enough digits to hold one is read by
``json.loads`` instead, so a card or account number sent as a JSON number keeps its digits for
redaction to find.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson

__all__ = ["MAX_NESTING", "parse"]

MAX_NESTING = 64  # arrays and objects within each other; message lists need fewer than 10
_DIGITS = b"0123456789"
# Fewer digits than this cannot make an integer orjson would round (-9223372036854775809).
_INEXACT_DIGITS = 19


def parse(text: str) -> Any:
    """The value of the JSON ``text``; ``ValueError`` if ``text`` is not JSON or nests arrays
    and objects more than :data:`MAX_NESTING` deep."""
    data = text.encode()  # a lone surrogate: UnicodeEncodeError, a ValueError
    if len(data) - len(data.translate(None, _DIGITS)) < _INEXACT_DIGITS:
        value = orjson.loads(data)  # past 1,024 levels: JSONDecodeError, a ValueError
    else:
        value = _parse_exactly(text)
    # Fewer brackets than the limit cannot nest deeper than it: most values stop here.
    if text.count("[") + text.count("{") > MAX_NESTING and _deeper_than(value, MAX_NESTING):
        raise ValueError(f"JSON nested more than {MAX_NESTING} deep")
    return value


def _parse_exactly(text: str) -> Any:
    """``json.loads`` with every integer exact, as strict as orjson about constants."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


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
