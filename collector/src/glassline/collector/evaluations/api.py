"""``POST /api/v1/evaluations`` (after-the-fact feedback) and ``GET /api/v1/evaluations``.

POST takes one evaluation as JSON::

    {"id": "fb-123", "name": "user_feedback", "trace_id": "4bf9...", "label": "thumbs_down",
     "value": 0, "explanation": "wrong answer"}

``id`` is the client's idempotency key (a resend answers 200 with the stored record, a new
one 201); ``trace_id`` and/or ``response_id`` (``gen_ai.response.id`` of the model call)
say what is judged, ``span_id`` narrows it; ``value`` and/or ``label`` is the score; ``time``
(Unix ns or ISO-8601, default now) when it was given. A bad field is answered 400 with its
name. GET lists the caller's evaluations of a ``trace_id``, or of a ``name`` in a window;
``GET /api/v1/evaluations/stats?name=judge&group_by=prompt_version,model`` gives the count,
mean score and pass rate per group from the (pre-sampling) evaluation rollups.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.auth import Principal
from glassline.collector.evaluations.intake import EvaluationIntake, as_stored
from glassline.collector.params import unknown
from glassline.collector.posted import BadBody, json_body
from glassline.collector.records import MAX_AMOUNT, EvaluationRecord
from glassline.collector.storage.evaluations import evaluation_row
from glassline.collector.storage.models import Evaluation
from glassline.collector.storage.quality import QUALITY_DIMENSIONS, score_sums
from glassline.collector.storage.store import Store
from glassline.collector.times import parse_time_ns

__all__ = ["FeedbackBody", "routes"]

_HEX = "0123456789abcdef"
_GET_PARAMS = {"trace_id", "name", "start", "end", "limit"}
_STATS_PARAMS = {"name", "start", "end", "group_by"}
_DAY_NS = 86_400 * 1_000_000_000


def _hex_id(value: str | None, length: int) -> str | None:
    if value is None:
        return None
    value = value.lower()
    if len(value) != length or any(c not in _HEX for c in value):
        raise ValueError(f"must be {length} hexadecimal characters")
    return value


class FeedbackBody(BaseModel):
    """One posted evaluation; unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=256)
    trace_id: str | None = None
    span_id: str | None = None
    response_id: str | None = Field(default=None, min_length=1, max_length=256)
    value: float | None = Field(default=None, ge=-MAX_AMOUNT, le=MAX_AMOUNT)  # summed
    label: str | None = Field(default=None, min_length=1, max_length=256)
    explanation: str | None = Field(default=None, max_length=16_384)
    time: int | str | None = None

    @field_validator("trace_id")
    @classmethod
    def _trace(cls, value: str | None) -> str | None:
        return _hex_id(value, 32)

    @field_validator("span_id")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        return _hex_id(value, 16)

    @field_validator("time")
    @classmethod
    def _time(cls, value: int | str | None) -> int | None:
        return None if value is None else parse_time_ns(value)

    def record(self, tenant: str) -> EvaluationRecord:
        return EvaluationRecord(
            tenant=tenant,
            id=self.id,
            name=self.name,
            time_ns=int(self.time or time.time_ns()),
            source="api",
            trace_id=self.trace_id,
            span_id=self.span_id,
            response_id=self.response_id,
            score_value=self.value,
            score_label=self.label,
            explanation=self.explanation,
        )


class _BadParameter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _param(params: Any, name: str, parse: Callable[[str], Any]) -> Any:
    """``parse(params[name])``, None when absent; a bad value raises naming ``name``."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise _BadParameter(name, str(exc)) from None


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if field:
        body["parameter"] = field
    return JSONResponse(body, status_code=status)


def _check(body: FeedbackBody) -> tuple[str, str] | None:
    """A rule across fields that the model cannot say per field: (field, message)."""
    if body.trace_id is None and body.response_id is None:
        return "trace_id", "give trace_id or response_id: what is being evaluated"
    if body.span_id is not None and body.trace_id is None:
        return "trace_id", "span_id needs its trace_id"
    if body.value is None and body.label is None:
        return "value", "give value and/or label: the score"
    return None


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "tenant" and v is not None}


def routes(store: Store, intake: EvaluationIntake) -> list[Route]:
    """The evaluation routes; mount them behind authentication."""

    async def post(request: Request) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            return _error(401, "authentication required")
        try:
            payload = await json_body(request)
        except BadBody as bad:
            return _error(bad.status, bad.message)
        try:
            body = FeedbackBody.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            return _error(400, f"{field}: {first['msg']}", field)
        problem = _check(body)
        if problem is not None:
            return _error(400, f"{problem[0]}: {problem[1]}", problem[0])
        record = body.record(principal.tenant)
        created, row = await run_in_threadpool(_post, store, intake, principal, record)
        if row is None:  # purged between the write and the read
            return _error(409, "id: stored and already purged by retention", "id")
        return JSONResponse({"evaluation": _json(row), "created": created},
                            status_code=201 if created else 200)  # fmt: skip

    def get(request: Request) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            return _error(401, "authentication required")
        p = request.query_params
        refused = unknown(p, _GET_PARAMS)
        if refused is not None:
            return refused
        query = select(Evaluation).where(Evaluation.tenant == principal.tenant)
        try:
            if p.get("trace_id"):
                trace_id = _param(p, "trace_id", lambda v: _hex_id(v, 32))
                query = query.where(Evaluation.trace_id == trace_id)
            elif p.get("name"):
                end = _param(p, "end", parse_time_ns) or time.time_ns()
                start = _param(p, "start", parse_time_ns) or end - _DAY_NS
                query = query.where(
                    Evaluation.name == p["name"], Evaluation.time_ns.between(start, end)
                )
            else:
                return _error(400, "trace_id: give trace_id or name", "trace_id")
            limit = _param(p, "limit", int)
            limit = 100 if limit is None else limit
        except _BadParameter as exc:
            return _error(400, f"{exc.field}: {exc.message}", exc.field)
        if not 1 <= limit <= 1000:
            return _error(400, "limit: must be between 1 and 1000", "limit")
        with store.session() as session:
            rows = session.scalars(query.order_by(Evaluation.time_ns.desc()).limit(limit))
            out = [_json(evaluation_row(_as_record(r))) for r in rows]
        return JSONResponse({"evaluations": out})

    def stats(request: Request) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            return _error(401, "authentication required")
        p = request.query_params
        refused = unknown(p, _STATS_PARAMS)
        if refused is not None:
            return refused
        if not p.get("name"):
            return _error(400, "name: which evaluation", "name")
        by = [d for d in (p.get("group_by") or "").split(",") if d]
        if any(d not in QUALITY_DIMENSIONS for d in by):
            return _error(400, f"group_by: among {', '.join(QUALITY_DIMENSIONS)}", "group_by")
        try:
            end = _param(p, "end", parse_time_ns) or time.time_ns()
            start = _param(p, "start", parse_time_ns) or end - _DAY_NS
        except _BadParameter as exc:
            return _error(400, f"{exc.field}: {exc.message}", exc.field)
        with store.engine.connect() as conn:
            found = score_sums(conn, start // 10**9, end // 10**9, p["name"],
                               tenant=principal.tenant, by=by)  # fmt: skip
        groups = [
            {**dict(zip(by, key, strict=True)), "count": s.count, "mean": s.mean,
             "pass_rate": s.pass_rate}
            for key, s in sorted(found.items())
        ]  # fmt: skip
        return JSONResponse({"name": p["name"], "start_ns": start, "end_ns": end,
                             "group_by": by, "groups": groups})  # fmt: skip

    return [
        Route("/api/v1/evaluations", post, methods=["POST"]),
        Route("/api/v1/evaluations", get, methods=["GET"]),
        Route("/api/v1/evaluations/stats", stats, methods=["GET"]),
    ]


def _post(
    store: Store, intake: EvaluationIntake, principal: Principal, record: EvaluationRecord
) -> tuple[bool, dict[str, Any] | None]:
    """Whether this call stored ``record``, and the stored row (this one or the earlier)."""
    record = as_stored(record)  # read back by the id as stored
    created = bool(intake.consume(principal, [record]))
    with store.session() as session:
        stored = session.get(Evaluation, (principal.tenant, record.id))
        return created, None if stored is None else evaluation_row(_as_record(stored))


def _as_record(row: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(**{c: getattr(row, c) for c in EvaluationRecord.__slots__})
