"""Reads of evaluations for the dashboard's Quality page and the API: pure SQL, no UI.

Scores come from ``evaluation_rollups`` (pre-sampling, per minute); the worst-scored traces
from the ``evaluations`` rows. Times are Unix seconds, windows ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage import sketch as sketches
from glassline.collector.storage.models import Evaluation, EvaluationRollup

__all__ = [
    "QUALITY_DIMENSIONS",
    "ScoreSums",
    "evaluation_names",
    "score_sketch",
    "score_sums",
    "versions_first_seen",
    "worst_evaluations",
]

QUALITY_DIMENSIONS = ("stage", "model", "prompt_name", "prompt_version")
_T = EvaluationRollup


@dataclass(slots=True)
class ScoreSums:
    count: int = 0
    scored: int = 0
    value_sum: float = 0.0
    labelled: int = 0
    passed: int = 0

    @property
    def mean(self) -> float | None:
        return self.value_sum / self.scored if self.scored else None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.labelled if self.labelled else None


def _where(start: int, end: int, tenant: str | None, name: str | None) -> list[Any]:
    where = [_T.minute >= start - start % 60, _T.minute < end]
    if tenant is not None:
        where.append(_T.tenant == tenant)
    if name is not None:
        where.append(_T.name == name)
    return where


def evaluation_names(conn: Connection, start: int, end: int, tenant: str | None) -> list[str]:
    """Names of the evaluations with data in the window, most frequent first."""
    total = func.sum(_T.count)
    query = (select(_T.name).where(*_where(start, end, tenant, None)).group_by(_T.name)
             .order_by(total.desc(), _T.name))  # fmt: skip
    return [row[0] for row in conn.execute(query)]


def score_sums(
    conn: Connection,
    start: int,
    end: int,
    name: str,
    *,
    tenant: str | None = None,
    by: Sequence[str] = (),
    bucket: int | None = None,
) -> dict[tuple[Any, ...], ScoreSums]:
    """Sums of ``name`` per (bucket start if ``bucket``, *values of ``by``)."""
    if any(d not in QUALITY_DIMENSIONS for d in by):
        raise ValueError(f"by must be among {QUALITY_DIMENSIONS}")
    keys: list[Any] = [getattr(_T, d) for d in by]
    if bucket:
        keys.insert(0, _T.minute - _T.minute % bucket)
    measures = [func.sum(getattr(_T, c)) for c in ("count", "scored", "value_sum", "labelled",
                                                   "passed")]  # fmt: skip
    query = select(*keys, *measures).where(*_where(start, end, tenant, name)).group_by(*keys)
    out = {}
    n = len(keys)
    for row in conn.execute(query):
        c, s, v, lab, p = (x or 0 for x in row[n:])
        out[tuple(row[:n])] = ScoreSums(int(c), int(s), float(v), int(lab), int(p))
    return out


def score_sketch(
    conn: Connection, start: int, end: int, name: str, *, tenant: str | None = None
) -> Any:
    """The merged sketch of ``name``'s scores in the window (a DDSketch)."""
    query = select(_T.sketch).where(*_where(start, end, tenant, name))
    return sketches.merge_encoded(row[0] for row in conn.execute(query))


def versions_first_seen(
    conn: Connection, start: int, end: int, *, tenant: str | None = None,
    lookback: int = 30 * 86_400,
) -> dict[tuple[str, str], int]:  # fmt: skip
    """Prompt (name, version) pairs first evaluated in the window (none in the ``lookback``
    before it), each with its first minute: the change markers of prompt versions."""
    pair = (_T.prompt_name, _T.prompt_version)
    before = select(*pair).where(*_where(start - lookback, start, tenant, None)).distinct()
    seen = {tuple(row) for row in conn.execute(before)}
    query = (select(*pair, func.min(_T.minute)).where(*_where(start, end, tenant, None),
             _T.prompt_version != "").group_by(*pair))  # fmt: skip
    return {
        (row[0], row[1]): int(row[2]) for row in conn.execute(query) if (row[0], row[1]) not in seen
    }


def worst_evaluations(
    conn: Connection, start: int, end: int, name: str, *, tenant: str | None = None,
    limit: int = 20, highest: bool = False,
) -> list[dict[str, Any]]:  # fmt: skip
    """The lowest-scored evaluations of ``name`` in the window with a trace, lowest first;
    ``highest``: highest first (a quality signal's value is how much went wrong: the most
    retries, the longest tool loop). Ties: newest first."""
    e = Evaluation
    query = (
        select(e.tenant, e.trace_id, e.span_id, e.score_value, e.score_label, e.explanation,
               e.stage, e.model, e.prompt_version, e.time_ns)
        .where(e.name == name, e.time_ns >= start * 10**9, e.time_ns < end * 10**9,
               e.trace_id.is_not(None), e.score_value.is_not(None))
        .order_by(e.score_value.desc() if highest else e.score_value, e.time_ns.desc())
        .limit(limit)
    )  # fmt: skip
    if tenant is not None:
        query = query.where(e.tenant == tenant)
    return [dict(row._mapping) for row in conn.execute(query)]
