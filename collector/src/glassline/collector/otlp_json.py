"""The lists of an OTLP/JSON request (``resourceSpans``, ``scopeLogs``...), read so that one
item of the wrong shape costs only itself: it is rejected naming its place, and the rest of
the request is decoded. Traces and logs read their containers here.

A list that is no list (``"scopeSpans": 5``) and an item that is no object (``[1]``) answered
400 for the whole request, good spans beside them included; an item once read as ``{}``
answered 200 with nothing said, like a delivery. Neither holds a span or a record to count:
each is rejected counting 0, and the request is a 400 only if nothing else is in it (the
decoders' rule: a 200 reads as delivered).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = ["Rejects", "json_list", "json_objects", "shown"]


class Rejects(Protocol):
    """Where a rejected item is counted (a decoder's result)."""

    def reject(self, reason: str, detail: str, count: int = 1) -> None: ...


def json_list(
    doc: dict[str, Any], camel: str, snake: str, where: str, result: Rejects
) -> list[Any]:
    """``doc[camel]`` (or ``doc[snake]``): a list, else rejected naming ``where`` and read as
    empty. Absent or null is empty."""
    value = doc.get(camel, doc.get(snake))
    if value is None:
        return []
    if not isinstance(value, list):
        result.reject(f"malformed_{snake}", f"{where} must be a list, got {shown(value)}", 0)
        return []
    return value


def json_objects(
    doc: dict[str, Any], camel: str, snake: str, where: str, result: Rejects
) -> list[tuple[int, dict[str, Any]]]:
    """The objects of the list ``doc[camel]`` with their places; any other item is rejected,
    named (``where[n]``)."""
    found = []
    for n, item in enumerate(json_list(doc, camel, snake, where, result)):
        if isinstance(item, dict):
            found.append((n, item))
        else:
            result.reject(
                f"malformed_{snake}", f"{where}[{n}] must be an object, got {shown(item)}", 0
            )
    return found


def shown(value: Any) -> str:
    """``value`` as JSON, cut to 40 characters for an error message."""
    return json.dumps(value)[:40]
