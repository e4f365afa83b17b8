"""The Redactor: text in, redacted text out, for single values, batches and attribute maps."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from glassline.redaction import _cache
from glassline.redaction._cache import ResultCache
from glassline.redaction._engine import MIN_TEXT_LEN, Finding, PatternEngine
from glassline.redaction._ner import NerEngine
from glassline.redaction._recognizers import build_detectors
from glassline.redaction._render import FAILED_TOKEN, Renderer
from glassline.redaction._scope import Scope, json_leaves
from glassline.redaction.config import RedactionConfig
from glassline.redaction.entities import NER_ENTITIES
from glassline.redaction.errors import RedactionError, RedactorSetupError

__all__ = ["FAILED_TOKEN", "Finding", "RedactionResult", "Redactor", "TextResult"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TextResult:
    """The outcome for one text. ``dropped``: a ``drop`` entity was found in it."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    dropped: bool = False
    failed: bool = False
    truncated_from: int | None = None  # original length when the text was cut


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The outcome for one attribute map.

    ``attributes`` is a new dict (the input is not modified) without the dropped attributes;
    ``counts`` are redactions per entity type; ``failed`` counts values replaced by
    ``[REDACTION_FAILED]``; ``truncated`` maps attribute names to their original length.
    """

    attributes: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    truncated: dict[str, int] = field(default_factory=dict)


class Redactor:
    """PII and secret redaction built on Presidio. Build once; thread-safe for reading.

    Raises:
        RedactorSetupError: the recognizers or the NER model could not be built
            (:class:`~glassline.redaction.errors.NerModelMissingError` when NER is enabled
            and its model is not installed).
    """

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config if config is not None else RedactionConfig()
        policies = self.config.policies()
        active = [e for e, p in policies.items() if p != "keep"]
        key = self.config.hmac_key
        try:
            detectors = build_detectors(active, self.config.phone_regions)
        except Exception as exc:
            raise RedactorSetupError(f"building recognizers failed: {exc}") from exc
        self._engine = PatternEngine(detectors, self.config.score_threshold)
        ner_wanted = self.config.ner.enabled and any(e in NER_ENTITIES for e in active)
        self._ner = NerEngine(self.config.ner, self.config.score_threshold) if ner_wanted else None
        self._renderer = Renderer(policies, key.get_secret_value().encode() if key else None)
        self._scope = Scope(self.config.scope)
        chars = self.config.cache_chars
        self.cache: ResultCache[TextResult] | None = ResultCache(chars) if chars else None

    @property
    def ner_enabled(self) -> bool:
        """Whether a NER model is loaded and applied to free-text attributes."""
        return self._ner is not None

    def __call__(self, text: str) -> str:
        """Redact one text (NER applies if enabled). A dropped text becomes ``[DROPPED]``."""
        result = self.redact_many([text], free_text=True)[0]
        return "[DROPPED]" if result.dropped else result.text

    def redact_many(self, texts: Sequence[str], *, free_text: bool = False) -> list[TextResult]:
        """Redact a batch of texts in one pass; ``free_text`` turns NER on for them."""
        return self._redact_units(list(texts), [free_text] * len(texts))

    def analyze_many(self, texts: Sequence[str], *, free_text: bool = False) -> list[list[Finding]]:
        """The spans that redaction would replace in each text (for audits and tests).

        Raises whatever the analysis raises: unlike the ``redact_*`` methods this does not
        fail closed, because it returns no text.
        """
        texts = [_truncate(t, self.config.max_text_chars) for t in texts]
        findings, failed = self._engine.analyze(texts)
        if failed:
            raise RedactionError(f"analysis failed on {len(failed)} of {len(texts)} texts")
        if self._ner is not None:
            self._add_ner(texts, [free_text] * len(texts), findings, failed)
        return [self._renderer.applied(f) for f in findings]

    def redact_attributes(self, attributes: Mapping[str, Any]) -> RedactionResult:
        """Redact the in-scope string values of one attribute map."""
        return self.redact_attributes_many([attributes])[0]

    def redact_attributes_many(
        self, attribute_maps: Sequence[Mapping[str, Any]]
    ) -> list[RedactionResult]:
        """Redact many attribute maps with one batched analysis over all their texts."""
        changed = self.redact_attributes_changed(attribute_maps)
        return [changed.get(i) or RedactionResult(dict(m)) for i, m in enumerate(attribute_maps)]

    def redact_attributes_changed(
        self, attribute_maps: Sequence[Mapping[str, Any]]
    ) -> dict[int, RedactionResult]:
        """Like :meth:`redact_attributes_many`, but only the maps in which something changed.

        Keyed by position in ``attribute_maps``; a map that is not a key needs nothing done
        (no finding, no truncation, no failure). For pipelines where most maps hold no PII:
        they cost no copy.
        """
        plan = _Plan(self._scope, self._worth_analysing, ner=self._ner is not None)
        for index, attributes in enumerate(attribute_maps):
            plan.add(index, attributes)
        plan.prepare()
        results = self._redact_units(plan.texts, plan.free_text)
        return plan.assemble(attribute_maps, results)

    def _worth_analysing(self, raw: list[str]) -> list[bool]:
        """Which raw values (before any JSON parsing) can hold a finding or need truncating.

        A JSON value's leaves are substrings of its raw text, except where JSON escapes
        ``\\uXXXX`` or ``\\/`` could hide a character a trigger looks for: those always go on.
        """
        try:
            hot = self._engine.may_find(raw)
        except Exception as exc:  # the full analysis decides (and fails closed) instead
            _log.warning("pre-scan failed (%s); analysing every value", type(exc).__name__)
            return [True] * len(raw)
        limit = self.config.max_text_chars
        return [
            h or len(t) > limit or "\\u" in t or "\\/" in t for h, t in zip(hot, raw, strict=True)
        ]

    def _redact_units(self, texts: list[str], free_text: list[bool]) -> list[TextResult]:
        """Results for ``texts``: remembered ones from the cache, the others analysed."""
        cache = self.cache
        if cache is None:
            return self._analyse_units(texts, free_text)
        keys = [_cache.key(t, n) for t, n in zip(texts, free_text, strict=True)]
        out: list[TextResult | None] = [cache.get(k) for k in keys]
        todo = [i for i, result in enumerate(out) if result is None]
        if todo:
            fresh = self._analyse_units([texts[i] for i in todo], [free_text[i] for i in todo])
            for i, result in zip(todo, fresh, strict=True):
                out[i] = result
                if not result.failed:  # a failure may be transient: analyse it again next time
                    cache.put(keys[i], len(texts[i]), result)
        return cast(list[TextResult], out)

    def _analyse_units(self, texts: list[str], free_text: list[bool]) -> list[TextResult]:
        try:
            return self._redact_batch(texts, free_text)
        except Exception as exc:  # fail closed, value by value
            _log.warning("batch redaction failed (%s); retrying per value", type(exc).__name__)
        out = []
        for text, ner in zip(texts, free_text, strict=True):
            try:
                out.extend(self._redact_batch([text], [ner]))
            except Exception as exc:
                _log.warning("redaction of a value failed: %s", type(exc).__name__)
                out.append(TextResult(FAILED_TOKEN, failed=True))
        return out

    def _redact_batch(self, texts: list[str], free_text: list[bool]) -> list[TextResult]:
        originals = [len(t) for t in texts]
        texts = [_truncate(t, self.config.max_text_chars) for t in texts]
        findings, failed = self._engine.analyze(texts)
        if self._ner is not None:
            self._add_ner(texts, free_text, findings, failed)
        out = []
        for i, text in enumerate(texts):
            if i in failed:
                out.append(TextResult(FAILED_TOKEN, failed=True))
                continue
            red, counts, dropped = self._renderer.render(text, findings[i])
            cut = originals[i] if originals[i] != len(text) else None
            out.append(TextResult(red, counts, dropped, truncated_from=cut))
        return out

    def _add_ner(
        self,
        texts: list[str],
        free_text: list[bool],
        findings: list[list[Finding]],
        failed: set[int],
    ) -> None:
        assert self._ner is not None
        chosen = [i for i, ner in enumerate(free_text) if ner and i not in failed]
        try:
            per_text = self._ner.analyze([texts[i] for i in chosen])
        except Exception:
            per_text = []
            for i in chosen:
                try:
                    per_text.extend(self._ner.analyze([texts[i]]))
                except Exception as exc:
                    _log.warning("NER failed on a value: %s", type(exc).__name__)
                    per_text.append([])
                    failed.add(i)
        for i, extra in zip(chosen, per_text, strict=True):
            findings[i].extend(extra)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 256, limit)  # don't split a token in half
    return text[: cut if cut > 0 else limit]


class _Plan:
    """Where each analysed text came from, so results can be written back."""

    def __init__(
        self, scope: Scope, worth_analysing: Callable[[list[str]], list[bool]], *, ner: bool
    ) -> None:
        self._scope = scope
        self._ner = ner  # free-text attributes get NER only when a model is loaded
        self._worth_analysing = worth_analysing
        # Plain string values (index, name, value), held until prepare() pre-scans them all.
        self._pending: list[tuple[int, str, str]] = []
        self.texts: list[str] = []
        self.free_text: list[bool] = []
        # (map index, attribute name, kind, payload, unit indices)
        self.items: list[tuple[int, str, str, Any, list[int]]] = []

    def _unit(self, text: str, ner: bool) -> int:
        self.texts.append(text)
        self.free_text.append(ner)
        return len(self.texts) - 1

    def add(self, index: int, attributes: Mapping[str, Any]) -> None:
        for name, value in attributes.items():
            scanned, ner = self._scope.classify(name)
            if scanned:
                self._guarded(self._add_value, index, name, value, ner and self._ner)

    def prepare(self) -> None:
        """Turn the pending string values worth analysing into units; the rest stay as sent."""
        pending, self._pending = self._pending, []
        hot = self._worth_analysing([value for _, _, value in pending])
        for (index, name, value), worth in zip(pending, hot, strict=True):
            if worth:
                self._guarded(self._add_string, index, name, value, False)

    def _guarded(
        self, add: Callable[[int, str, Any, bool], None], index: int, name: str, value: Any,
        ner: bool,
    ) -> None:  # fmt: skip
        try:
            add(index, name, value, ner)
        except Exception as exc:  # fail closed: the value is replaced, the rest goes on
            _log.warning("preparing a value for redaction failed: %s", type(exc).__name__)
            self.items.append((index, name, "failed", None, []))

    def _add_value(self, index: int, name: str, value: Any, ner: bool) -> None:
        if isinstance(value, str):
            if len(value) < MIN_TEXT_LEN and not ner:
                return
            if not ner:  # NER needs no trigger: free text always goes on
                self._pending.append((index, name, value))
                return
            self._add_string(index, name, value, ner)
        elif isinstance(value, list | tuple) and any(isinstance(v, str) for v in value):
            units = [self._unit(v, ner) for v in value if isinstance(v, str)]
            self.items.append((index, name, "list", None, units))

    def _add_string(self, index: int, name: str, value: str, ner: bool) -> None:
        parsed = json_leaves(value)
        if parsed is None:
            self.items.append((index, name, "str", None, [self._unit(value, ner)]))
            return
        # Structural leaves ("user", "text") can hold nothing: they stay as they are.
        leaves = [(c, k) for c, k in parsed[1] if ner or len(c[k]) >= MIN_TEXT_LEN]
        if leaves:
            units = [self._unit(c[k], ner) for c, k in leaves]
            self.items.append((index, name, "json", (parsed[0], leaves), units))

    def assemble(
        self, maps: Sequence[Mapping[str, Any]], results: list[TextResult]
    ) -> dict[int, RedactionResult]:
        """The results of the maps in which something changed, by index."""
        out: dict[int, RedactionResult] = {}

        def target(index: int) -> RedactionResult:
            if index not in out:
                out[index] = RedactionResult(dict(maps[index]))
            return out[index]

        for index, name, kind, payload, units in self.items:
            if kind == "failed":
                result = target(index)
                result.attributes[name] = FAILED_TOKEN
                object.__setattr__(result, "failed", result.failed + 1)
                continue
            parts = [results[u] for u in units]
            original = maps[index][name]
            failed = sum(p.failed for p in parts)
            dropped = any(p.dropped for p in parts)
            cut = parts[0].truncated_from if kind == "str" else None
            value = None if dropped else _rebuild(kind, payload, original, parts)
            changed = failed or dropped or cut is not None or any(p.counts for p in parts)
            if not changed and (value is original or value == original):
                continue  # analysed, nothing found
            result = target(index)
            for part in parts:
                for entity, n in part.counts.items():
                    result.counts[entity] = result.counts.get(entity, 0) + n
            object.__setattr__(result, "failed", result.failed + failed)
            if dropped:
                del result.attributes[name]
                continue
            if cut is not None:
                result.truncated[name] = cut
            result.attributes[name] = value
        return out


def _rebuild(kind: str, payload: Any, original: Any, parts: list[TextResult]) -> Any:
    if kind == "str":
        return parts[0].text
    if kind == "list":
        texts = iter(p.text for p in parts)
        return [next(texts) if isinstance(v, str) else v for v in original]
    parsed, leaves = payload
    if all(p.text == c[k] for p, (c, k) in zip(parts, leaves, strict=True)):
        return original  # untouched JSON keeps its original formatting
    for part, (container, key) in zip(parts, leaves, strict=True):
        container[key] = part.text
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))
