"""The shadow of an attribute value: where its strings sit (:class:`Slot`), and the value
rebuilt from what analysing them found (:func:`rebuild`).
"""

from __future__ import annotations

import json
from typing import Any

from glassline.redaction._results import TextResult

__all__ = ["Map", "Seq", "Slot", "Tally", "rebuild"]

UNEXPECTED = "UNEXPECTED_VALUE"


class Slot:
    """One string (or long integer, as its digits) somewhere inside an attribute."""

    __slots__ = ("depth", "item", "key", "mode", "number", "parsed", "raw", "strict", "unit")

    def __init__(
        self, raw: str, mode: int, item: int, *, number: bool = False, key: str = ""
    ) -> None:
        self.raw = raw
        self.item = item  # the position of its attribute in Plan.items
        self.mode = mode
        self.number = number
        self.key = key  # the map key this value sits under (names in name-like keys)
        self.depth = 0  # JSON levels above it
        self.parsed: Any = None  # the shadow of its parsed JSON, when it held JSON
        self.unit = -1  # index of its text among the analysed ones; -1: not analysed
        self.strict = False  # replaced whole if nothing is found in it (see ScopeConfig)


class Seq:
    """The shadow of a list or tuple: its items' shadows."""

    __slots__ = ("items", "original")

    def __init__(self, original: Any, items: list[Any]) -> None:
        self.original = original
        self.items = items


class Map:
    """The shadow of a dict: its keys' and values' shadows, in order."""

    __slots__ = ("original", "pairs")

    def __init__(self, original: Any, pairs: list[tuple[Slot | str, Any]]) -> None:
        self.original = original
        self.pairs = pairs


class Tally:
    """What rebuilding one attribute found."""

    __slots__ = ("changed", "counts", "dropped", "failed")

    def __init__(self) -> None:
        self.changed = False
        self.dropped = False
        self.failed = 0
        self.counts: dict[str, int] = {}


def rebuild(shadow: Any, original: Any, results: list[TextResult], tally: Tally) -> Any:
    """The value ``shadow`` stands for, with what ``results`` found in its slots (``original``
    itself when nothing changed); what was found is added to ``tally``."""
    if isinstance(shadow, Slot):
        if shadow.parsed is not None:
            inner = Tally()
            value = rebuild(shadow.parsed, None, results, inner)
            _merge(tally, inner)
            if not inner.changed:
                return original
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if shadow.unit < 0:
            return _unexpected(tally) if shadow.strict else original
        part = results[shadow.unit]
        if shadow.strict and not part.counts and not part.failed:
            return _unexpected(tally)
        for entity, n in part.counts.items():
            tally.counts[entity] = tally.counts.get(entity, 0) + n
        tally.failed += part.failed
        tally.dropped = tally.dropped or part.dropped
        if part.text == shadow.raw and not part.failed and part.truncated_from is None:
            return original
        tally.changed = True
        return part.text
    if isinstance(shadow, Seq):
        items = [
            rebuild(s, o, results, tally)
            for s, o in zip(shadow.items, shadow.original, strict=True)
        ]
        return items if tally.changed else shadow.original
    if isinstance(shadow, Map):
        out = {}
        for (key, value_shadow), (k, v) in zip(shadow.pairs, shadow.original.items(), strict=True):
            new_key = k if isinstance(key, str) else rebuild(key, k, results, tally)
            out[new_key] = rebuild(value_shadow, v, results, tally)
        return out if tally.changed else shadow.original
    return shadow


def _unexpected(tally: Tally) -> str:
    tally.counts[UNEXPECTED] = tally.counts.get(UNEXPECTED, 0) + 1
    tally.changed = True
    return f"<{UNEXPECTED}>"


def _merge(into: Tally, part: Tally) -> None:
    into.changed = into.changed or part.changed
    into.dropped = into.dropped or part.dropped
    into.failed += part.failed
    for entity, n in part.counts.items():
        into.counts[entity] = into.counts.get(entity, 0) + n
