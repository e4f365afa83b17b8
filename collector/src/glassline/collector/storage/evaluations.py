"""Evaluations in the store: insert once by (tenant, id), roll up what was inserted.

Called inside a write transaction (the span writer's, or :meth:`Store.write_evaluations`),
so an evaluation and its rollup change commit together and a retried export, a re-posted
feedback or a second replica never counts one twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from glassline.collector.records import EvaluationRecord
from glassline.collector.storage import sketch
from glassline.collector.storage._insert import insert_new
from glassline.collector.storage._merge import merge_rows
from glassline.collector.storage.models import Evaluation, EvaluationRollup
from glassline.collector.storage.rollup import bucket_of

__all__ = [
    "FAIL_LABELS",
    "PASS_LABELS",
    "EvaluationDelta",
    "evaluation_deltas",
    "evaluation_row",
    "passed",
    "write_evaluations",
]

# Labels that count toward an evaluation's pass rate (compared lowercased); others do not.
PASS_LABELS = frozenset({"pass", "passed", "good", "correct", "yes", "true", "positive",
                         "thumbs_up", "up", "relevant", "grounded"})  # fmt: skip
FAIL_LABELS = frozenset({"fail", "failed", "bad", "incorrect", "no", "false", "negative",
                         "thumbs_down", "down", "irrelevant", "ungrounded"})  # fmt: skip

_KEY = ("tenant", "id")
_ROLLUP_KEY = ("minute", "tenant", "name", "stage", "model", "prompt_name", "prompt_version")
EvaluationKey = tuple[int, str, str, str, str, str, str]


def passed(label: str | None) -> bool | None:
    """True / False for a pass / fail label, None for any other (or no) label."""
    if not label:
        return None
    lowered = label.strip().lower()
    if lowered in PASS_LABELS:
        return True
    return False if lowered in FAIL_LABELS else None


def evaluation_row(record: EvaluationRecord) -> dict[str, Any]:
    """The ``evaluations`` row of a record."""
    return {
        "tenant": record.tenant,
        "id": record.id,
        "name": record.name,
        "time_ns": record.time_ns,
        "source": record.source,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "response_id": record.response_id,
        "score_value": record.score_value,
        "score_label": record.score_label,
        "explanation": record.explanation,
        "stage": record.stage,
        "model": record.model,
        "prompt_name": record.prompt_name,
        "prompt_version": record.prompt_version,
        "service_version": record.service_version,
    }


@dataclass(slots=True)
class EvaluationDelta:
    """What a set of evaluations adds to one ``evaluation_rollups`` row."""

    count: int = 0
    scored: int = 0
    value_sum: float = 0.0
    labelled: int = 0
    passed: int = 0
    values: list[float] = field(default_factory=list)

    def add(self, record: EvaluationRecord) -> None:
        self.count += 1
        if record.score_value is not None:
            self.scored += 1
            self.value_sum += record.score_value
            self.values.append(record.score_value)
        verdict = passed(record.score_label)
        if verdict is not None:
            self.labelled += 1
            self.passed += verdict


def evaluation_deltas(
    records: Iterable[EvaluationRecord], bucket_s: int = 60
) -> dict[EvaluationKey, EvaluationDelta]:
    deltas: dict[EvaluationKey, EvaluationDelta] = {}
    for r in records:
        key = (bucket_of(r.time_ns, bucket_s), r.tenant, r.name, r.stage or "", r.model or "",
               r.prompt_name or "", r.prompt_version or "")  # fmt: skip
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = EvaluationDelta()
        delta.add(r)
    return deltas


def _new_row(key: tuple[Any, ...], delta: EvaluationDelta) -> dict[str, Any]:
    row = dict(zip(_ROLLUP_KEY, key, strict=True))
    row.update(_measures(delta, {}))
    return row


def _measures(delta: EvaluationDelta, stored: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "count": (stored.get("count") or 0) + delta.count,
        "scored": (stored.get("scored") or 0) + delta.scored,
        "value_sum": (stored.get("value_sum") or 0.0) + delta.value_sum,
        "labelled": (stored.get("labelled") or 0) + delta.labelled,
        "passed": (stored.get("passed") or 0) + delta.passed,
        "sketch": sketch.encode_values(delta.values, stored.get("sketch")),
    }


def write_evaluations(
    conn: Connection, records: Sequence[EvaluationRecord]
) -> list[EvaluationRecord]:
    """Insert the evaluations not stored yet and roll them up; returns those inserted."""
    unique: dict[tuple[str, str], EvaluationRecord] = {}
    for record in records:
        unique.setdefault((record.tenant, record.id), record)
    if not unique:
        return []
    keys = sorted(unique)
    rows = [evaluation_row(unique[k]) for k in keys]
    inserted = insert_new(conn, Evaluation.__table__, _KEY, rows)
    new = [unique[k] for k in keys if k in inserted]
    merge_rows(
        conn,
        EvaluationRollup.__table__,
        _ROLLUP_KEY,
        evaluation_deltas(new),
        _new_row,
        lambda stored, delta: _measures(delta, stored),
    )
    return new
