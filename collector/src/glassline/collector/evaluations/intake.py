"""Evaluations that do not arrive on a span: log records and after-the-fact feedback.

:class:`EvaluationIntake` is the one entry point for them (the OTLP logs receiver and
``POST /api/v1/evaluations`` both call :meth:`EvaluationIntake.consume`): it stamps the
caller's tenant, redacts the explanation with the collector's redactor (the same rules as
span content), links each evaluation to its span (by span id, response id or trace id) to
take that span's stage, model and prompt version, and stores it once per id.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from glassline.collector.auth import Principal
from glassline.collector.jsonsafe import safe_str
from glassline.collector.processors.evaluations import score, span_dims, text
from glassline.collector.records import EvaluationRecord
from glassline.collector.storage.models import Span
from glassline.collector.storage.store import Store
from glassline.redaction import Redactor
from glassline.semconv import attributes as attrs

__all__ = ["EvaluationIntake", "as_stored", "evaluation_from_log"]

_FAILED = "[REDACTION_FAILED]"
_RESPONSE_LOOKBACK_NS = 7 * 86_400 * 1_000_000_000  # how far back a response id is searched


def evaluation_from_log(
    tenant: str,
    attributes: Mapping[str, Any],
    *,
    time_ns: int,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> EvaluationRecord | None:
    """The evaluation of a ``gen_ai.evaluation.result`` log record; None without a name.

    The id hashes the record's identity (trace, span, time, name), so a resent log record
    is stored once.
    """
    name = text(attributes.get(attrs.GEN_AI_EVALUATION_NAME), 256)
    if name is None:
        return None
    digest = hashlib.sha256(f"{trace_id}|{span_id}|{time_ns}|{name}".encode()).hexdigest()
    return EvaluationRecord(
        tenant=tenant,
        id=f"log:{digest[:40]}",
        name=name,
        time_ns=time_ns,
        source="log",
        trace_id=trace_id or None,
        span_id=span_id or None,
        response_id=text(attributes.get(attrs.GEN_AI_RESPONSE_ID), 256),
        score_value=score(attributes.get(attrs.GEN_AI_EVALUATION_SCORE_VALUE)),
        score_label=text(attributes.get(attrs.GEN_AI_EVALUATION_SCORE_LABEL), 256),
        explanation=text(attributes.get(attrs.GEN_AI_EVALUATION_EXPLANATION)),
    )


class EvaluationIntake:
    """Redact, link and store evaluations for one caller (``redactor`` None: redaction off)."""

    def __init__(self, store: Store, redactor: Redactor | None) -> None:
        self._store = store
        self._redactor = redactor

    def consume(
        self, principal: Principal, records: Sequence[EvaluationRecord]
    ) -> list[EvaluationRecord]:
        """Store ``records`` as the caller's tenant; returns those inserted (linked, redacted).

        A record whose id the tenant already stored is skipped: not stored or counted again.
        """
        owned = [as_stored(replace(r, tenant=principal.tenant)) for r in records]
        owned = self._redact(owned)
        with self._store.session() as session:
            linked = [_link(session, r) for r in owned]
        return self._store.write_evaluations(linked)

    def _redact(self, records: list[EvaluationRecord]) -> list[EvaluationRecord]:
        if self._redactor is None:
            return records
        maps = [{attrs.GEN_AI_EVALUATION_EXPLANATION: r.explanation or ""} for r in records]
        try:
            changed = self._redactor.redact_attributes_changed(maps)
        except Exception:  # fail closed: never store an explanation we could not scan
            return [replace(r, explanation=_FAILED) if r.explanation else r for r in records]
        out = list(records)
        for index, result in changed.items():
            cleaned = result.attributes.get(attrs.GEN_AI_EVALUATION_EXPLANATION)
            out[index] = replace(records[index], explanation=cleaned or None)
        return out


def as_stored(record: EvaluationRecord) -> EvaluationRecord:
    """``record`` with its text as ingest stores text (:mod:`glassline.collector.jsonsafe`).

    Spans get that from the ``limits`` step; log records come here without it, and a NUL in
    an evaluation's name or label failed its whole logs export on PostgreSQL, retryably.
    """
    texts: dict[str, Any] = {}
    for name in _TEXTS:
        value = getattr(record, name)
        if isinstance(value, str) and (safe := safe_str(value)) is not value:
            texts[name] = safe
    return replace(record, **texts) if texts else record


_TEXTS = ("id", "name", "response_id", "score_label", "explanation")


def _link(session: Session, record: EvaluationRecord) -> EvaluationRecord:
    """``record`` with the ids and dimensions of the span it evaluates, when stored."""
    if record.stage or record.model or record.prompt_version:  # the sender already said
        return record
    span = _find_span(session, record)
    if span is None:
        return record
    dims = span_dims(span.stage, span.model, span.attributes or {}, span.resource or {})
    return replace(record, trace_id=span.trace_id, span_id=span.span_id, **dims)


def _find_span(session: Session, record: EvaluationRecord) -> Span | None:
    query = select(Span).where(Span.tenant == record.tenant)
    if record.trace_id and record.span_id:
        query = query.where(Span.trace_id == record.trace_id, Span.span_id == record.span_id)
    elif record.response_id:
        response = Span.attributes[attrs.GEN_AI_RESPONSE_ID].as_string()
        query = query.where(response == record.response_id)
        if record.trace_id:
            query = query.where(Span.trace_id == record.trace_id)
        else:
            since = (record.time_ns or time.time_ns()) - _RESPONSE_LOOKBACK_NS
            query = query.where(Span.start_ns >= since)
    elif record.trace_id:
        # Feedback on a whole request: it judges the answer, i.e. the trace's last model call.
        query = query.where(Span.trace_id == record.trace_id).order_by(
            (Span.kind == "llm").desc(), Span.end_ns.desc()
        )
    else:
        return None
    return session.scalars(query.limit(1)).first()
