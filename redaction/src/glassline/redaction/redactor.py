"""The Redactor: text in, redacted text out, for single values, batches and attribute maps."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import cast

from glassline.redaction import _cache
from glassline.redaction._cache import ResultCache
from glassline.redaction._engine import Finding, PatternEngine
from glassline.redaction._names import MODE_FULL, MODE_ID, MODE_NONE, NameDetector
from glassline.redaction._ner import NerEngine
from glassline.redaction._plan import Plan
from glassline.redaction._recognizers import build_detectors
from glassline.redaction._render import FAILED_TOKEN, Renderer
from glassline.redaction._results import RedactionResult, TextResult
from glassline.redaction._scope import Scope
from glassline.redaction.config import RedactionConfig
from glassline.redaction.entities import NER_ENTITIES
from glassline.redaction.errors import RedactionError, RedactorSetupError

__all__ = ["FAILED_TOKEN", "Finding", "RedactionResult", "Redactor", "TextResult"]

_log = logging.getLogger(__name__)
_PRESIDIO_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")
# Below Presidio's pattern scores (0.3-1.0): where a name and a pattern overlap, the merged
# span is labelled with the pattern's entity.
_NAME_SCORE = 0.3
# In an identifier (MODE_ID) these count only when they are the whole value: digit runs inside
# ids ("chatcmpl-4111111111111111") are part of the id.
_NUMERIC = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"})


class Redactor:
    """PII and secret redaction built on Presidio. Build once; thread-safe for reading.

    Raises:
        RedactorSetupError: the recognizers or the NER model could not be built
            (:class:`~glassline.redaction.errors.NerModelMissingError` when NER is enabled
            and its model is not installed).
    """

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config if config is not None else RedactionConfig()
        _withhold_presidio_log_text()
        policies = self.config.policies()
        active = [e for e, p in policies.items() if p != "keep"]
        key = self.config.hmac_key
        try:
            detectors = build_detectors(active, self.config.phone_regions)
            names = self.config.names.enabled and "PERSON" in active
            self._names = NameDetector() if names else None
        except Exception as exc:
            raise RedactorSetupError(f"building recognizers failed: {exc}") from exc
        self._engine = PatternEngine(detectors, self.config.score_threshold)
        ner_wanted = self.config.ner.enabled and any(e in NER_ENTITIES for e in active)
        self._ner = NerEngine(self.config.ner, self.config.score_threshold) if ner_wanted else None
        self._renderer = Renderer(policies, key.get_secret_value().encode() if key else None)
        self._scope = Scope(self.config.scope)
        self._clean: set[int] = set()  # hashes of texts found clean (see _plan.Plan)
        chars = self.config.cache_chars
        self.cache: ResultCache[TextResult] | None = ResultCache(chars) if chars else None

    @property
    def ner_enabled(self) -> bool:
        """Whether a NER model is loaded and applied to free text."""
        return self._ner is not None

    @property
    def names_enabled(self) -> bool:
        """Whether person names are looked for (the names detector, NER, or both)."""
        return self._names is not None or self._ner is not None

    def __call__(self, text: str) -> str:
        """Redact one text (names included). A dropped text becomes ``[DROPPED]``."""
        result = self.redact_many([text], free_text=True)[0]
        return "[DROPPED]" if result.dropped else result.text

    def redact_many(self, texts: Sequence[str], *, free_text: bool = False) -> list[TextResult]:
        """Redact a batch of texts in one pass; ``free_text`` looks for names in them too."""
        mode = MODE_FULL if free_text else MODE_NONE
        return self._redact_units(list(texts), [mode] * len(texts))

    def analyze_many(self, texts: Sequence[str], *, free_text: bool = False) -> list[list[Finding]]:
        """The spans that redaction would replace in each text (for audits and tests).

        Raises whatever the analysis raises: unlike the ``redact_*`` methods this does not
        fail closed, because it returns no text.
        """
        texts = [_truncate(t, self.config.max_text_chars) for t in texts]
        findings, failed = self._engine.analyze(texts)
        if failed:
            raise RedactionError(f"analysis failed on {len(failed)} of {len(texts)} texts")
        mode = MODE_FULL if free_text else MODE_NONE
        self._add_names(texts, [mode] * len(texts), findings, failed)
        return [self._renderer.applied(f) for f in findings]

    def redact_attributes(self, attributes: Mapping[str, object]) -> RedactionResult:
        """Redact one attribute map: its keys and every string in its values, at any depth."""
        return self.redact_attributes_many([attributes])[0]

    def redact_attributes_many(
        self, attribute_maps: Sequence[Mapping[str, object]]
    ) -> list[RedactionResult]:
        """Redact many attribute maps with one batched analysis over all their texts."""
        changed = self.redact_attributes_changed(attribute_maps)
        return [changed.get(i) or RedactionResult(dict(m)) for i, m in enumerate(attribute_maps)]

    def redact_attributes_changed(
        self, attribute_maps: Sequence[Mapping[str, object]], modes: Sequence[int] | None = None
    ) -> dict[int, RedactionResult]:
        """Like :meth:`redact_attributes_many`, but only the maps in which something changed.

        Keyed by position in ``attribute_maps``; a map that is not a key needs nothing done
        (no finding, no truncation, no failure). For pipelines where most maps hold no PII:
        they cost no copy. ``modes`` caps the names detector per map (``_names.MODE_*``;
        default: free text everywhere).
        """
        plan = Plan(
            self._scope,
            self._worth_analysing,
            names=self.names_enabled,
            clean=self._clean,
        )
        for index, attributes in enumerate(attribute_maps):
            plan.add(index, attributes, MODE_FULL if modes is None else modes[index])
        plan.prepare()
        results = self._redact_units(plan.texts, plan.modes)
        return plan.assemble(attribute_maps, results)

    def _worth_analysing(self, raw: list[str], modes: list[int]) -> list[bool]:
        """Which raw values (before any JSON parsing) can hold a finding or need truncating.

        A JSON value's leaves are substrings of its raw text, except where JSON escapes
        ``\\uXXXX`` or ``\\/`` could hide a character a trigger looks for: those always go on.
        """
        limit = self.config.max_text_chars
        names = self._names
        worth = [
            len(t) > limit
            # One character is found with memchr, two are compared position by position.
            or ("\\" in t and ("\\u" in t or "\\/" in t))
            or (m > MODE_NONE and (names is None or names.may_find(t)))
            for t, m in zip(raw, modes, strict=True)
        ]
        # The triggers' scan only for the values not decided yet: prose with a capitalised
        # word goes on to analysis anyway. Its answer for a value does not depend on the
        # other values scanned with it (no trigger crosses the separator of the joined text).
        rest = [i for i, w in enumerate(worth) if not w]
        if not rest:
            return worth
        try:
            hot = self._engine.may_find([raw[i] for i in rest])
        except Exception as exc:  # the full analysis decides (and fails closed) instead
            _log.warning("pre-scan failed (%s); analysing every value", type(exc).__name__)
            return [True] * len(raw)
        for i, h in zip(rest, hot, strict=True):
            worth[i] = h
        return worth

    def _redact_units(self, texts: list[str], modes: list[int]) -> list[TextResult]:
        """Results for ``texts``: each distinct ``(text, mode)`` once (a result depends on
        nothing else), remembered ones from the cache, the others analysed."""
        distinct: dict[tuple[str, int], int] = {}
        where = [
            distinct.setdefault(unit, len(distinct)) for unit in zip(texts, modes, strict=True)
        ]
        if len(distinct) == len(texts):
            return self._redact_distinct(texts, modes)
        # The same model name, id or prompt in many spans of one request (a new client's
        # first, before the clean memo knows them): analysed once, not once per span.
        results = self._redact_distinct([t for t, _ in distinct], [m for _, m in distinct])
        return [results[i] for i in where]

    def _redact_distinct(self, texts: list[str], modes: list[int]) -> list[TextResult]:
        cache = self.cache
        if cache is None:
            return self._analyse_units(texts, modes)
        keys = [_cache.key(t, m) for t, m in zip(texts, modes, strict=True)]
        out: list[TextResult | None] = [cache.get(k) for k in keys]
        todo = [i for i, result in enumerate(out) if result is None]
        if todo:
            fresh = self._analyse_units([texts[i] for i in todo], [modes[i] for i in todo])
            for i, result in zip(todo, fresh, strict=True):
                out[i] = result
                if not result.failed:  # a failure may be transient: analyse it again next time
                    cache.put(keys[i], len(texts[i]), result)
        return cast(list[TextResult], out)

    def _analyse_units(self, texts: list[str], modes: list[int]) -> list[TextResult]:
        deadline = time.monotonic() + self.config.timeout_s
        try:
            return self._redact_batch(texts, modes, deadline)
        except Exception as exc:  # fail closed, value by value
            _log.warning("batch redaction failed (%s); retrying per value", type(exc).__name__)
        out = []
        for text, mode in zip(texts, modes, strict=True):
            try:
                out.extend(self._redact_batch([text], [mode], deadline))
            except Exception as exc:
                _log.warning("redaction of a value failed: %s", type(exc).__name__)
                out.append(TextResult(FAILED_TOKEN, failed=True))
        return out

    def _redact_batch(
        self, texts: list[str], modes: list[int], deadline: float
    ) -> list[TextResult]:
        originals = [len(t) for t in texts]
        texts = [_truncate(t, self.config.max_text_chars) for t in texts]
        findings, failed = self._engine.analyze(texts, deadline)
        self._add_names(texts, modes, findings, failed)
        for i, mode in enumerate(modes):
            if mode == MODE_ID and findings[i]:
                findings[i] = [f for f in findings[i] if _fits(f, texts[i])]
        if time.monotonic() > deadline:
            failed.update(range(len(texts)))  # late: nothing of this batch is trusted
        out = []
        for i, text in enumerate(texts):
            if i in failed:
                out.append(TextResult(FAILED_TOKEN, failed=True))
                continue
            red, counts, dropped = self._renderer.render(text, findings[i])
            cut = originals[i] if originals[i] != len(text) else None
            out.append(TextResult(red, counts, dropped, truncated_from=cut))
        return out

    def _add_names(
        self, texts: list[str], modes: list[int], findings: list[list[Finding]], failed: set[int]
    ) -> None:
        names = self._names
        if names is not None:
            for i, (text, mode) in enumerate(zip(texts, modes, strict=True)):
                if mode > MODE_NONE and i not in failed:
                    found = names.find(text, mode)
                    findings[i].extend(Finding("PERSON", a, b, _NAME_SCORE) for a, b in found)
        if self._ner is not None:
            self._add_ner(texts, modes, findings, failed)

    def _add_ner(
        self, texts: list[str], modes: list[int], findings: list[list[Finding]], failed: set[int]
    ) -> None:
        assert self._ner is not None
        chosen = [i for i, mode in enumerate(modes) if mode >= MODE_FULL and i not in failed]
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


class _Withheld(logging.Filter):
    """Presidio's log records can quote analysed text ("Failed to validate text %s")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "%s logged a record whose text is withheld (it may quote a value)"
        record.args = (record.name,)
        record.exc_info = record.exc_text = None
        return True


def _withhold_presidio_log_text() -> None:
    for name in _PRESIDIO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Withheld) for f in logger.filters):
            logger.addFilter(_Withheld())


def _fits(finding: Finding, text: str) -> bool:
    """Whether ``finding`` counts in the identifier ``text`` (see ``_NUMERIC``)."""
    return finding.entity not in _NUMERIC or (finding.start == 0 and finding.end == len(text))


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit - 256, limit)  # don't split a token in half
    return text[: cut if cut > 0 else limit]
