"""HTTP API: ``GET /api/v1/alerts`` (rules, states, history), ``GET /api/v1/budgets`` (with
the name of the caller's own key, ``api_key``) and
``GET /api/v1/slos`` (burn rates of the SLO rules).

The caller is ``request.state.principal`` (set by the server's auth middleware): a tenant
sees its own states, history and budgets; an admin sees every tenant, or one with
``?tenant=``. Budgets are computed live from the rollups, so an app reads its spend as of now.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.engine import AlertEngine, AlertStore
from glassline.collector.alerts.models import STATE_ORDER, AlertEvent, AlertState
from glassline.collector.alerts.payloads import iso
from glassline.collector.alerts.queries import Key, Totals, key_dims, totals
from glassline.collector.alerts.rules import (
    budget_floor,
    budget_observation,
    budget_recent_spend,
)
from glassline.collector.alerts.slo import slo_status
from glassline.collector.alerts.windows import budget_window
from glassline.collector.auth import Principal
from glassline.collector.errors import ForbiddenError
from glassline.collector.params import BadParameter, error, forbidden, number, unknown
from glassline.collector.storage.models import DayRollup

__all__ = ["budget_status", "routes", "routes_when_off"]

_MAX_HISTORY = 1000
# A per-user budget keeps a state for each user that went over it: 100,000 of them answered
# 35 MB in 3.3 s. The most pressing come first: firing, pending, then the latest changes.
_MAX_STATES = 1000


def _tenant_scope(request: Request) -> str | None:
    """The tenant to show, or None for every tenant (admins only); ForbiddenError if not his."""
    principal: Principal = request.state.principal
    return principal.readable_tenant(request.query_params.get("tenant"))


def _applies(rule: cfg.Rule, tenant: str | None) -> bool:
    return tenant is None or rule.filters.tenant is None or tenant in rule.filters.tenant


def _rule_json(rule: cfg.Rule) -> dict[str, Any]:
    data = rule.model_dump(mode="json", by_alias=True, exclude_none=True)
    for name, field in type(rule).model_fields.items():
        value = getattr(rule, name)
        if isinstance(value, timedelta):  # "5m", as written in the rule file, not "PT5M"
            data[field.alias or name] = cfg.format_duration(value)
    return data


def _state_json(row: AlertState) -> dict[str, Any]:
    return {
        "rule": row.rule,
        "tenant": row.tenant,
        "labels": dict(row.dims),
        "state": row.state,
        "severity": row.severity,
        "value": row.value,
        "threshold": row.threshold,
        "active_since": iso(row.active_since),
        "fired_at": iso(row.fired_at),
        "resolved_at": iso(row.resolved_at),
        "last_notified_at": iso(row.last_notified_at),
        "annotations": dict(row.annotations or {}),
    }


def _event_json(row: AlertEvent) -> dict[str, Any]:
    return {
        "at": iso(row.at),
        "rule": row.rule,
        "tenant": row.tenant,
        "labels": dict(row.dims),
        "from": row.from_state,
        "to": row.to_state,
        "severity": row.severity,
        "value": row.value,
        "threshold": row.threshold,
    }


def alerts_view(
    session: Session, config: cfg.AlertsConfig, tenant: str | None, limit: int
) -> dict[str, Any]:
    pressing = case(STATE_ORDER, value=AlertState.state, else_=len(STATE_ORDER))
    states = select(AlertState).order_by(
        pressing, AlertState.updated_at.desc(), AlertState.rule, AlertState.tenant, AlertState.key
    )
    history = select(AlertEvent).order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(limit)
    if tenant is not None:
        states = states.where(AlertState.tenant == tenant)
        history = history.where(AlertEvent.tenant == tenant)
    found = list(session.scalars(states.limit(_MAX_STATES + 1)))
    return {
        "rules": [_rule_json(r) for r in config.rules if _applies(r, tenant)],
        "states": [_state_json(r) for r in found[:_MAX_STATES]],
        "more_states": len(found) > _MAX_STATES,
        "history": [_event_json(r) for r in session.scalars(history)],
    }


def _budget_rules(config: cfg.AlertsConfig, tenant: str) -> list[cfg.BudgetRule]:
    return [r for r in config.rules if isinstance(r, cfg.BudgetRule) and _applies(r, tenant)]


def budget_status(
    conn: Connection,
    config: cfg.AlertsConfig,
    tenants: Sequence[str],
    now: datetime,
    *,
    min_share: float = 0.0,
) -> list[dict[str, Any]]:
    """One entry per budget rule (and per key of its ``per``) that applies to each of
    ``tenants``, tenant by tenant, each rule read once for all of them: an admin's answer for
    5,000 tenants read every rule once a tenant and took a minute.

    ``min_share``: a key of a ``per`` budget whose spend is under that share of the budget's
    lowest level (warn, else limit) is left out, chosen in SQL. A guard asks so: a per-user
    budget of 100,000 users answered 28.8 MB and 3.5 s of the collector's CPU on every
    refresh of every app, and a guard needs only the users near their budget. ``filters``:
    the calls a budget counts, by label (:func:`_call_filters`).
    """
    by_tenant: dict[str, list[dict[str, Any]]] = {tenant: [] for tenant in tenants}
    for rule in config.rules:
        if not isinstance(rule, cfg.BudgetRule):
            continue
        applies = [tenant for tenant in tenants if _applies(rule, tenant)]
        if not applies:
            continue
        filters = _call_filters(rule)
        span = budget_window(now, rule.window, rule.timezone)
        scoped = rule.filters.model_copy(update={"tenant": applies})
        floor = budget_floor(rule, min_share)
        found: dict[Key, Totals | None] = dict(
            totals(conn, span.start, span.end, scoped, rule.per, min_cost_usd=floor)
        )
        if not rule.per:  # no spend yet: still report the budget
            for tenant in applies:
                found.setdefault((("tenant", tenant),), None)
        listed = {key: t for key, t in found.items() if t is not None}
        recent = budget_recent_spend(conn, rule, span, scoped, listed) if listed else {}
        for key, t in sorted(found.items()):
            spend = t.cost_usd if t else 0.0
            obs = budget_observation(rule, key, spend, span, recent.get(key, 0.0))
            state = "critical" if obs.value >= rule.limit_usd else "warn" if obs.breached else "ok"
            dims = key_dims(key)
            tenant = dims.pop("tenant")
            by_tenant[tenant].append({
                "rule": rule.name,
                "tenant": tenant,
                "window": rule.window,
                "labels": dims,
                "spend_usd": obs.value,
                "limit_usd": rule.limit_usd,
                "warn_usd": rule.warn_usd,
                "filters": filters,
                "state": state,
                "forecast_exhaustion": iso(obs.extra["forecast_exhaustion"]),
                "forecast": obs.extra["forecast"],
            })  # fmt: skip
    return [entry for tenant in tenants for entry in by_tenant[tenant]]


def unlisted_budgets(
    config: cfg.AlertsConfig, tenant: str, min_share: float
) -> list[dict[str, Any]]:
    """For each ``per`` budget of ``tenant``, the spend under which its keys are left out of
    :func:`budget_status` at ``min_share``: a key not listed spent less than ``below_usd``.
    ``filters``: as in :func:`budget_status` (a budget kept per API key for some keys has no
    key of the others)."""
    if not min_share:
        return []
    return [
        {
            "rule": rule.name,
            "tenant": tenant,
            "per": list(rule.per),
            "filters": _call_filters(rule),
            "below_usd": budget_floor(rule, min_share),
            "limit_usd": rule.limit_usd,
            "warn_usd": rule.warn_usd,
        }
        for rule in _budget_rules(config, tenant)
        if rule.per
    ]


def _call_filters(rule: cfg.BudgetRule) -> dict[str, list[str]]:
    """The values the rule's filters allow, by label, but the tenant (each entry names its
    own): a guard applies a budget filtered to one model only to calls of that model."""
    return rule.filters.model_dump(exclude_none=True, exclude={"tenant"})


def _tenants(conn: Connection) -> list[str]:
    """Every tenant with spend on record: an admin's budget view covers them all. Read from
    the daily rollups, which hold every tenant the minute ones do in a fraction of the rows."""
    column = DayRollup.__table__.c.tenant
    return list(conn.scalars(select(column).distinct().order_by(column)))


def routes(store: AlertStore, engine: AlertEngine) -> list[Route]:
    """The alerting routes, to mount behind the server's auth middleware."""

    def alerts(request: Request) -> JSONResponse:
        if (refused := unknown(request.query_params, ("tenant", "limit"))) is not None:
            return refused
        try:
            limit = number(request.query_params, "limit", int, 0, _MAX_HISTORY)
            tenant = _tenant_scope(request)
        except BadParameter as exc:
            return error(400, f"{exc.parameter}: {exc.message}", exc.parameter)
        except ForbiddenError as exc:
            return forbidden(exc.message)
        with Session(store.engine) as session:
            body = alerts_view(session, engine.config, tenant, 200 if limit is None else limit)
        return JSONResponse(body)

    def budgets(request: Request) -> JSONResponse:
        if (refused := unknown(request.query_params, ("tenant", "min_share"))) is not None:
            return refused
        try:
            tenant = _tenant_scope(request)
            min_share = number(request.query_params, "min_share", float, 0.0, 1.0) or 0.0
        except ForbiddenError as exc:
            return forbidden(exc.message)
        except BadParameter as exc:
            return error(400, f"{exc.parameter}: {exc.message}", exc.parameter)
        now = datetime.now(UTC)
        config = engine.config
        with store.engine.connect() as conn:
            tenants = [tenant] if tenant is not None else _tenants(conn)
            items = budget_status(conn, config, tenants, now, min_share=min_share)
        body: dict[str, Any] = {"budgets": items}
        if min_share:
            body["unlisted"] = [u for n in tenants for u in unlisted_budgets(config, n, min_share)]
        # The caller's own key name: a guard applies the budgets kept per API key to it.
        body["api_key"] = request.state.principal.key_name
        return JSONResponse(body)

    def slos(request: Request) -> JSONResponse:
        if (refused := unknown(request.query_params, ("tenant",))) is not None:
            return refused
        try:
            tenant = _tenant_scope(request) or str(request.state.principal.tenant)
        except ForbiddenError as exc:  # uncaught, it was a 500 and a reset connection
            return forbidden(exc.message)
        with store.engine.connect() as conn:
            items = slo_status(conn, engine.config, tenant, datetime.now(UTC))
        return JSONResponse({"slos": items})

    # Sync endpoints run in Starlette's thread pool, so the database never blocks the loop.
    return [
        Route(path, endpoint, methods=["GET"])
        for path, endpoint in zip(_PATHS, (alerts, budgets, slos), strict=True)
    ]


_PATHS = ("/api/v1/alerts", "/api/v1/budgets", "/api/v1/slos")


def routes_when_off() -> list[Route]:
    """The alerting paths of a collector without ``alerts.rules_file``: a JSON 404 saying so.
    Starlette's plain "Not Found" read as a wrong URL, and no API client could parse it."""

    def off(request: Request) -> JSONResponse:
        if getattr(request.state, "principal", None) is None:
            return error(401, "authentication required")
        return error(404, "alerting is off: set alerts.rules_file in the collector config")

    return [Route(path, off, methods=["GET"]) for path in _PATHS]
