"""The query API: ``/api/v1/traces``, ``/api/v1/traces/{trace_id}``, ``/api/v1/stats`` and
``/api/v1/sampling``.

The caller's tenant comes from ``request.state.principal`` (``.tenant``, ``.is_admin``), set
by the server's authentication middleware; it is never taken from the request otherwise.
An admin may pass ``tenant=`` to narrow to one tenant and sees all tenants without it.
Endpoints are plain functions, so Starlette runs the database calls in its thread pool.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.errors import ForbiddenError
from glassline.collector.params import BadParameter, error, number, unknown
from glassline.collector.sampling.models import SamplingStat
from glassline.collector.sampling.summary import sampling_summary
from glassline.collector.storage import queries
from glassline.collector.storage import stats as rollup_stats
from glassline.collector.storage.store import Store
from glassline.collector.times import parse_time_ns

__all__ = ["routes"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_DAY_NS = 86_400 * 1_000_000_000
_LIST_PARAMS = {"start", "end", "tenant", "user", "session", "model", "status", "min_cost"}
_LIST_PARAMS |= {"min_duration_ms", "name", "q", "limit", "cursor"}
_STATS_PARAMS = {"start", "end", "tenant", "group_by", "kind", "limit"}
# Groups per stats answer unless ``limit`` asks for more: by user, an app of 100,000 users a day
# answered 16.5 MB (a million, about 165 MB).
_STATS_GROUPS_DEFAULT = 1_000
_MAX_STATS_GROUPS = 10_000
_SAMPLING_PARAMS = {"start", "end", "tenant"}
_TRACE_SPANS_DEFAULT = 1_000  # a trace's spans per read unless ``limit`` asks for more
_MAX_OFFSET = 2**62  # SQL's integers end at 2**63 - 1: past them, an error 500


def _time_ns(params: Any, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_time_ns(raw)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None


def _scope(request: Request) -> str | None:
    """The tenant the caller may read (``None``: all tenants, admins only)."""
    asked = request.query_params.get("tenant") or None
    try:
        return request.state.principal.readable_tenant(asked)  # type: ignore[no-any-return]
    except ForbiddenError as exc:
        raise BadParameter("tenant", exc.message) from None


def _endpoint(allowed: set[str]) -> Callable[[Callable[..., Any]], Callable[[Request], Any]]:
    """Wraps a handler: authentication check, unknown parameters, errors -> JSON 4xx."""

    def wrap(handler: Callable[[Request, str | None], Any]) -> Callable[[Request], Any]:
        def endpoint(request: Request) -> JSONResponse:
            if getattr(request.state, "principal", None) is None:
                return error(401, "authentication required")
            refused = unknown(request.query_params, allowed)
            if refused is not None:
                return refused
            try:
                return handler(request, _scope(request))  # type: ignore[no-any-return]
            except BadParameter as exc:
                status = 403 if exc.parameter == "tenant" else 400
                return error(status, f"{exc.parameter}: {exc.message}", exc.parameter)
            except queries.QueryError as exc:
                return error(400, str(exc), exc.parameter)

        return endpoint

    return wrap


def _window(params: Any) -> tuple[int, int]:
    """``start``/``end`` in ns; the last 24 hours by default."""
    end = _time_ns(params, "end", time.time_ns()) or 0
    return _time_ns(params, "start", end - _DAY_NS) or 0, end


def _sampling_counts(
    session: Session, tenant: str | None, start: int, end: int
) -> list[dict[str, Any]]:
    """Traces kept and dropped per policy; summed over every tenant when ``tenant`` is None."""
    if tenant is None:
        column = SamplingStat.__table__.c.tenant
        tenants = list(session.scalars(select(column).distinct().order_by(column)))
    else:
        tenants = [tenant]
    per_policy: dict[str, dict[str, Any]] = {}
    for name in tenants:
        for count in sampling_summary(session, name, start, end):
            row = per_policy.setdefault(
                count.policy, {"policy": count.policy, "kept": 0, "dropped": 0}
            )
            row["kept" if count.kept else "dropped"] += count.traces
    return sorted(per_policy.values(), key=lambda r: (-(r["kept"] + r["dropped"]), r["policy"]))


def routes(store: Store) -> list[Route]:
    """The query API's routes, reading ``store``; mount them behind authentication."""

    @_endpoint(_LIST_PARAMS)
    def list_traces(request: Request, tenant: str | None) -> JSONResponse:
        p = request.query_params
        status = p.get("status") or None
        if status not in (None, "ok", "error"):
            raise BadParameter("status", "must be ok or error")
        with store.session() as session:
            page = queries.list_traces(
                session,
                tenant,
                start_ns=_time_ns(p, "start", None),
                end_ns=_time_ns(p, "end", None),
                user=p.get("user") or None,
                session_id=p.get("session") or None,
                model=p.get("model") or None,
                status=status,
                min_cost=number(p, "min_cost", float, 0),
                min_duration_ms=number(p, "min_duration_ms", float, 0),
                name_contains=p.get("name") or None,
                text=p.get("q") or None,
                limit=number(p, "limit", int, 1) or 50,
                cursor=p.get("cursor") or None,
            )
        traces = [dataclasses.asdict(t) for t in page.traces]
        return JSONResponse({"traces": traces, "next_cursor": page.next_cursor})

    @_endpoint({"tenant", "limit", "offset"})
    def get_trace(request: Request, tenant: str | None) -> JSONResponse:
        trace_id = request.path_params["trace_id"].lower()
        if not _TRACE_ID.match(trace_id):
            raise BadParameter("trace_id", "must be 32 hexadecimal characters")
        p = request.query_params
        limit = number(p, "limit", int, 1, queries.MAX_TRACE_SPANS) or _TRACE_SPANS_DEFAULT
        offset = number(p, "offset", int, 0, _MAX_OFFSET) or 0
        with store.session() as session:
            detail = queries.get_trace(session, tenant, trace_id, limit=limit, offset=offset)
        if detail is None:
            return error(404, f"no trace {trace_id}")
        return JSONResponse(
            {
                "trace": dataclasses.asdict(detail.trace),
                "spans": detail.spans,
                "next_offset": detail.next_offset,
            }
        )

    @_endpoint(_STATS_PARAMS)
    def stats(request: Request, tenant: str | None) -> JSONResponse:
        p = request.query_params
        end = _time_ns(p, "end", time.time_ns())
        start = _time_ns(p, "start", max(0, (end or 0) - _DAY_NS))
        group_by = p.get("group_by") or "stage"
        limit = number(p, "limit", int, 1, _MAX_STATS_GROUPS) or _STATS_GROUPS_DEFAULT
        bucket_s = rollup_stats.TIME_BUCKETS.get(group_by)
        if bucket_s and (end or 0) - (start or 0) > _MAX_STATS_GROUPS * bucket_s * 1_000_000_000:
            raise BadParameter(
                "start", f"more than {_MAX_STATS_GROUPS} {group_by}s: narrow start/end or use "
                "a longer bucket",
            )  # fmt: skip
        with store.session() as session:
            rows = rollup_stats.stats(
                session, tenant, start or 0, end or 0, group_by, kind=p.get("kind") or None
            )
        # Time buckets are bounded by the range above; other groups are cut, costliest kept.
        shown = rows if bucket_s else rows[:limit]
        return JSONResponse(
            {
                "group_by": group_by,
                "start_ns": start,
                "end_ns": end,
                "groups": rollup_stats.stats_dicts(shown),
                "more_groups": len(rows) - len(shown),
            }
        )

    @_endpoint(_SAMPLING_PARAMS)
    def sampling(request: Request, tenant: str | None) -> JSONResponse:
        start, end = _window(request.query_params)
        if end <= start:
            raise BadParameter("end", "must be after start")
        with store.session() as session:
            policies = _sampling_counts(session, tenant, start, end)
        return JSONResponse(
            {
                "start_ns": start,
                "end_ns": end,
                "kept": sum(p["kept"] for p in policies),
                "dropped": sum(p["dropped"] for p in policies),
                "policies": policies,
            }
        )

    return [
        Route("/api/v1/traces", list_traces, methods=["GET"]),
        Route("/api/v1/traces/{trace_id}", get_trace, methods=["GET"]),
        Route("/api/v1/stats", stats, methods=["GET"]),
        Route("/api/v1/sampling", sampling, methods=["GET"]),
    ]
