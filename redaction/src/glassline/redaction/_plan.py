"""Every string inside attribute maps, at any depth, turned into texts to analyse and back.

Coverage by construction: an attribute's key, its value, and inside the value every string and
every map key of nested lists and maps (OTLP arrays and kvlists) become a :class:`Slot`; a
string holding JSON is parsed and its object keys and values become slots too (JSON inside
JSON as well, a few levels deep); integers long enough to be an identifier (a card number sent
as a number) are analysed as their digits. Nothing is skipped because of where it sits; the
only choice made per slot is how much of the names detector it gets (``_names.MODE_*``):
an allow-listed structural key (ids, model names, enums; ``scope.structural``) whose value is
shaped like an identifier gets ``MODE_ID``: no names, and numeric entities (card, phone, IBAN,
SSN, IP) only when they are the whole value (``chatcmpl-4111111111111111`` is an id, a bare
card number in ``user.id`` is a card); emails and secrets are found anywhere in it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from glassline.redaction import jsontext
from glassline.redaction._engine import MIN_TEXT_LEN
from glassline.redaction._names import MODE_FULL, MODE_ID, MODE_NONE, MODE_WHOLE, NAME_KEYS
from glassline.redaction._render import FAILED_TOKEN
from glassline.redaction._results import RedactionResult, TextResult
from glassline.redaction._scope import Scope
from glassline.redaction._shadow import Map, Seq, Slot, Tally, rebuild

__all__ = ["IDENTIFIER", "MIN_NUMBER", "Plan"]

_log = logging.getLogger(__name__)

# What an allow-listed structural value must look like to skip the names detector: one token
# of identifier characters ("gpt-4o-2024-08-06", "chatcmpl-9x…", "user-42", "stop").
IDENTIFIER = re.compile(r"[\w.:/@+\-]{1,128}", re.ASCII)
# A strict value must also be made of readable parts: model names are ("Meta-Llama-3",
# "HuggingFaceTB", "DeepSeek-V3"); pasted tokens are long, or mix cases and digits in one long
# part ("zjYFrR073866").
_PART = re.compile(r"[A-Za-z0-9]{10,}")
_CASE_SWITCH = re.compile(r"[a-z][A-Z]")
# Integers with this many digits or more are analysed (phone numbers, cards, IBAN bodies);
# token counts, durations and sizes below it are not.
MIN_NUMBER = 10**6
# Texts found clean by the pre-scan are remembered (as hashes, see Plan) up to this length
# and this many: attribute names, enum values, model names and ids repeat in every span.
_CLEAN_CHARS = 256
_CLEAN_MAX = 65536  # ~4 MB of hashes
_JSON_DEPTH = 3  # JSON inside a JSON string inside ...: parsed this many levels deep


class Plan:
    """Slots of a batch of attribute maps, their texts to analyse, and the way back."""

    def __init__(
        self,
        scope: Scope,
        worth_analysing: Callable[[list[str], list[int]], list[bool]],
        *,
        names: bool,
        clean: set[int],
    ) -> None:
        self._scope = scope
        self._names = names
        # Hashes of what needs nothing done: ``(text, mode)`` of short texts the pre-scan found
        # nothing in, ``(name, value, mode)`` of string attributes made only of such texts.
        # Shared by the plans of one Redactor, bounded, never holding a text itself. str hashes
        # are keyed per process (SipHash), so no client can craft a value that passes for
        # another; a chance collision (~4e-15 per value at the bound) would store it as sent.
        self._clean = clean
        self._worth_analysing = worth_analysing
        self._pending: list[Slot] = []
        self._item = 0  # the position in ``items`` of the attribute being shadowed
        # Positions in ``items`` that may change: a text of theirs is analysed, or they are
        # strict or failed. The others are stored as sent without walking them again.
        self._touched: set[int] = set()
        self.texts: list[str] = []
        self.modes: list[int] = []
        # (map index, attribute name, key slot or None for a known-clean name, value shadow
        # or None when preparing failed)
        self.items: list[tuple[int, str, Slot | None, Any]] = []

    def add(self, index: int, attributes: Mapping[str, Any], mode: int = MODE_FULL) -> None:
        """Add one map; ``mode`` caps the names detector for its values (span names: cues)."""
        clean = self._clean
        for name, value in attributes.items():
            # An attribute seen before with nothing to look at (the same enum, model, id or
            # token count in every span): skipped at the cost of one hash.
            kind = value.__class__
            if (kind is str and len(value) <= _CLEAN_CHARS) or (
                kind is int and -MIN_NUMBER < value < MIN_NUMBER
            ):
                seen: int | None = hash((name, value, mode))
                if seen in clean:
                    continue
            else:
                seen = None
                if (kind is float or kind is bool or value is None) and (
                    len(name) < MIN_TEXT_LEN
                    or (len(name) <= _CLEAN_CHARS and hash((name, MODE_NONE)) in clean)
                ):
                    continue  # no text in the value, and its name is known clean (see _slot)
            scanned, structural, strict = self._scope.classify(name)
            if not scanned:
                continue
            self._item = len(self.items)
            key = self._slot(name, MODE_NONE)
            try:
                value_mode = _within(mode, _key_mode(name))
                if strict and isinstance(value, str):
                    shadow = self._strict(value, value_mode, name, structural)
                else:
                    shadow = self._shadow(value, value_mode, name, 0, structural)
                    if strict and isinstance(shadow, Slot):  # a long integer: no model name
                        shadow.strict = True
                        self._touched.add(self._item)
            except Exception as exc:  # fail closed: the value is replaced, the rest goes on
                _log.warning("preparing a value for redaction failed: %s", type(exc).__name__)
                shadow = None
                self._touched.add(self._item)
            if isinstance(key, Slot) or shadow is None or isinstance(shadow, (Slot, Seq, Map)):
                self.items.append((index, name, key if isinstance(key, Slot) else None, shadow))
            elif seen is not None:
                clean.add(seen)  # a name and a value with nothing to look at: stored as sent

    def prepare(self) -> None:
        """Pre-scan the slots; turn those worth it into texts, parsing JSON on the way."""
        while self._pending:
            pending, self._pending = self._pending, []
            # Each distinct (text, mode) scanned once: the keys and enums of a request's spans
            # repeat in every span until the clean memo knows them.
            distinct: dict[tuple[str, int], int] = {}
            where = [distinct.setdefault((s.raw, s.mode), len(distinct)) for s in pending]
            hot = self._worth_analysing([t for t, _ in distinct], [m for _, m in distinct])
            for slot, i in zip(pending, where, strict=True):
                if not hot[i]:
                    if len(slot.raw) <= _CLEAN_CHARS:
                        self._clean.add(hash((slot.raw, slot.mode)))
                    continue
                self._item = slot.item
                if not self._parse(slot):
                    slot.unit = len(self.texts)
                    self.texts.append(slot.raw)
                    self.modes.append(slot.mode)
                    self._touched.add(slot.item)
        if len(self._clean) > _CLEAN_MAX:
            self._clean.clear()

    def assemble(
        self, maps: Sequence[Mapping[str, Any]], results: list[TextResult]
    ) -> dict[int, RedactionResult]:
        """The results of the maps in which something changed, by index."""
        for text, mode, found in zip(self.texts, self.modes, results, strict=True):
            # Analysed and left as it was (a model name with a date, a version string):
            # as clean as what the pre-scan lets through.
            if (
                len(text) <= _CLEAN_CHARS
                and found.text == text
                and not (found.counts or found.failed or found.truncated_from is not None)
            ):
                self._clean.add(hash((text, mode)))
        out: dict[int, RedactionResult] = {}

        def target(index: int) -> RedactionResult:
            if index not in out:
                out[index] = RedactionResult(dict(maps[index]))
            return out[index]

        for position in sorted(self._touched):
            index, name, key, shadow = self.items[position]
            tally = Tally()
            new_name = name if key is None else rebuild(key, name, results, tally)
            if shadow is None:
                value: Any = FAILED_TOKEN
                tally.failed += 1
                tally.changed = True
            else:
                value = rebuild(shadow, maps[index][name], results, tally)
            if not tally.changed:
                continue
            result = target(index)
            for entity, n in tally.counts.items():
                result.counts[entity] = result.counts.get(entity, 0) + n
            object.__setattr__(result, "failed", result.failed + tally.failed)
            del result.attributes[name]
            if tally.dropped:
                continue
            if isinstance(shadow, Slot) and shadow.unit >= 0:
                cut = results[shadow.unit].truncated_from
                if cut is not None:
                    result.truncated[new_name] = cut
            result.attributes[new_name] = value
        return out

    def _slot(self, raw: str, mode: int, *, number: bool = False, key: str = "") -> Slot | str:
        """A slot for ``raw``, or ``raw`` itself when too short to hold anything it is scanned for."""
        if not self._names and mode > MODE_NONE:
            mode = MODE_NONE
        if len(raw) < MIN_TEXT_LEN and (mode != MODE_WHOLE or not raw):
            return raw  # most map keys and enum values: no slot, no scan, no rebuild
        if len(raw) <= _CLEAN_CHARS and hash((raw, mode)) in self._clean:
            return raw  # found clean before (attribute names, models, ids, enums)
        slot = Slot(raw, mode, self._item, number=number, key=key)
        self._pending.append(slot)
        return slot

    def _strict(self, value: str, mode: int, key: str, structural: bool) -> Slot | str:
        """The shadow of a string value of a strict key (see ``ScopeConfig.strict``)."""
        identifier = structural and IDENTIFIER.fullmatch(value) is not None
        # A model name holds no digit run of its own worth keeping whole: every numeric
        # detector applies ("+1-641-534-1373x2213").
        shadow = self._slot(value, MODE_NONE if identifier else mode, key=key)
        if identifier and not _pasted(value):
            return shadow  # a model name: kept unless something is found in it
        if isinstance(shadow, str):  # too short to be analysed (or found clean): replaced
            shadow = Slot(value, mode, self._item)
        shadow.strict = True
        self._touched.add(self._item)
        return shadow

    def _shadow(self, value: Any, mode: int, key: str, depth: int, structural: bool) -> Any:
        if isinstance(value, str):
            if structural and IDENTIFIER.fullmatch(value):
                mode = MODE_ID
            slot = self._slot(value, mode, key=key)
            if isinstance(slot, Slot):
                slot.depth = depth
            return slot
        if isinstance(value, bool) or not isinstance(value, (int, list, tuple, dict)):
            return value  # floats, booleans, None: no identifier fits in them exactly
        if isinstance(value, int):
            if abs(value) < MIN_NUMBER:
                return value
            slot = self._slot(str(value), MODE_NONE, number=True)
            return slot if isinstance(slot, Slot) else value  # found clean before: as sent
        if isinstance(value, dict):
            pairs = []
            for k, v in value.items():
                child = str(k)
                pairs.append(
                    (
                        self._slot(child, MODE_NONE),
                        self._shadow(v, _within(mode, _key_mode(child)), child, depth, structural),
                    )
                )
            return Map(value, pairs)
        return Seq(value, [self._shadow(v, mode, key, depth, structural) for v in value])

    def _parse(self, slot: Slot) -> bool:
        """Shadow ``slot``'s JSON, if it holds an object or array; False if it does not."""
        if slot.number or slot.depth >= _JSON_DEPTH or slot.raw.lstrip()[:1] not in ("{", "["):
            return False
        try:
            parsed = jsontext.parse(slot.raw)
        except ValueError:  # not JSON, or nested too deep to walk: analysed as text
            return False
        mode = slot.mode if slot.mode != MODE_WHOLE else MODE_FULL
        slot.parsed = self._shadow(parsed, mode, slot.key, slot.depth + 1, False)
        return True


def _within(cap: int, mode: int) -> int:
    """``mode`` where the place allows names in full, else the place's own (lower) mode."""
    return cap if cap < MODE_FULL else mode


@functools.lru_cache(maxsize=4096)  # keys repeat in every span; clients choose them: bounded
def _key_mode(key: str) -> int:
    """Names in a name-like key's value are the whole value."""
    short = key.rsplit(".", 1)[-1] if key.count(".") > 1 else key
    normal = short.lower().replace("-", "_").replace(" ", "_")
    return MODE_WHOLE if normal in NAME_KEYS or key.lower() in NAME_KEYS else MODE_FULL


def _pasted(value: str) -> bool:
    """Whether an identifier-shaped ``value`` holds a part that reads like a random token:
    25+ letters and digits, or 10+ mixing upper and lower case and digits ("fpoMes742382";
    model names keep such parts short: "SmolLM2", "Qwen2", "8B")."""
    for part in _PART.findall(value):
        if len(part) >= 25 or (
            _CASE_SWITCH.search(part)
            and not part.isalpha()
            and any(c.isupper() for c in part)
            and any(c.islower() for c in part)
        ):
            return True
    return False
