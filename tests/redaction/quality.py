"""Recall and precision of a Redactor on the labelled corpus (``python -m tests.redaction.quality``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from glassline.redaction import Finding, Redactor

from .corpus import Label, Sample, generate_corpus

__all__ = ["EntityScore", "QualityReport", "evaluate"]


@dataclass
class EntityScore:
    tp: int = 0  # labelled values found with the right entity type
    fn: int = 0  # labelled values missed (or found as another type)
    correct: int = 0  # findings that hit a labelled value of their type
    fp: int = 0  # findings that hit nothing of their type

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.correct / (self.correct + self.fp) if self.correct + self.fp else 1.0


@dataclass
class QualityReport:
    scores: dict[str, EntityScore] = field(default_factory=dict)
    altered_negatives: list[str] = field(default_factory=list)
    leaked: list[tuple[str, str]] = field(default_factory=list)  # (entity, value) not covered

    @property
    def precision(self) -> float:
        correct = sum(s.correct for s in self.scores.values())
        total = correct + sum(s.fp for s in self.scores.values())
        return correct / total if total else 1.0

    def table(self) -> str:
        rows = ["| entity | labelled | recall | precision |", "|---|---:|---:|---:|"]
        for name, s in sorted(self.scores.items()):
            rows.append(f"| {name} | {s.tp + s.fn} | {s.recall:.4f} | {s.precision:.4f} |")
        rows.append(f"| **all** | | | {self.precision:.4f} |")
        rows.append(f"hard negatives altered: {len(self.altered_negatives)}")
        return "\n".join(rows)


def _overlaps(a: Label, f: Finding) -> bool:
    return f.start < a.end and a.start < f.end


def evaluate(
    redactor: Redactor, samples: Sequence[Sample], entities: Iterable[str], batch: int = 256
) -> QualityReport:
    """Score ``redactor`` on ``samples`` for the given entity types."""
    wanted = set(entities)
    report = QualityReport({e: EntityScore() for e in wanted})
    for i in range(0, len(samples), batch):
        chunk = samples[i : i + batch]
        found = redactor.analyze_many([s.text for s in chunk], free_text=True)
        for sample, findings in zip(chunk, found, strict=True):
            _score(sample, findings, wanted, report)
    return report


def _score(
    sample: Sample, findings: list[Finding], wanted: set[str], report: QualityReport
) -> None:
    labels = [lb for lb in sample.labels if lb.entity in wanted]
    for label in labels:
        hits = [f for f in findings if _overlaps(label, f)]
        right = any(f.entity == label.entity for f in hits)
        score = report.scores[label.entity]
        score.tp += right
        score.fn += not right
        if not hits:
            report.leaked.append((label.entity, label.value))
    for f in findings:
        if f.entity not in wanted:
            continue
        ok = any(lb.entity == f.entity and _overlaps(lb, f) for lb in labels)
        report.scores[f.entity].correct += ok
        report.scores[f.entity].fp += not ok
    for neg in sample.negatives:
        if any(_overlaps(neg, f) for f in findings):
            report.altered_negatives.append(neg.value)


if __name__ == "__main__":
    from glassline.redaction import PII_ENTITIES, SECRET_ENTITIES

    result = evaluate(Redactor(), generate_corpus(), PII_ENTITIES + SECRET_ENTITIES)
    print(result.table())
    print("altered:", result.altered_negatives[:20])
    print("leaked:", [e for e, _ in result.leaked][:20])
