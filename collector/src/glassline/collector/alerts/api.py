"""HTTP API: ``GET /api/v1/alerts`` (rules, states, history), ``GET /api/v1/budgets`` (with
the name of the caller's own key, ``api_key``) and
``GET /api/v1/slos`` (burn rates of the SLO rules).

The caller is ``request.state.principal`` (set by the server's auth middleware): a tenant
sees its own states, history and budgets; an admin sees every tenant, or one with
``?tenant=``. Budgets are computed live from the rollups, so an app reads its spend as of now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.engine import AlertEngine, AlertStore
from glassline.collector.alerts.models import AlertEvent, AlertState
from glassline.collector.alerts.payloads import iso
from glassline.collector.alerts.quality import slo_status
from glassline.collector.alerts.queries import Key, Totals, key_dims, totals
from glassline.collector.alerts.rules import budget_observation, budget_recent_spend
from glassline.collector.alerts.windows import budget_window
from glassline.collector.auth import Principal
from glassline.collector.errors import ForbiddenError
from glassline.collector.storage.models import Rollup

__all__ = ["budget_status", "routes"]

_MAX_HISTORY = 1000


def _tenant_scope(request: Request) -> str | None:
    """The tenant to show, or None for every tenant (admins only); ForbiddenError if not his."""
    principal: Principal = request.state.principal
    return principal.readable_tenant(request.query_params.get("tenant"))


def _forbidden(exc: ForbiddenError) -> JSONResponse:
    return JSONResponse({"error": f"tenant: {exc.message}", "parameter": "tenant"}, 403)


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
    states = select(AlertState).order_by(AlertState.rule, AlertState.tenant, AlertState.key)
    history = select(AlertEvent).order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(limit)
    if tenant is not None:
        states = states.where(AlertState.tenant == tenant)
        history = history.where(AlertEvent.tenant == tenant)
    return {
        "rules": [_rule_json(r) for r in config.rules if _applies(r, tenant)],
        "states": [_state_json(r) for r in session.scalars(states)],
        "history": [_event_json(r) for r in session.scalars(history)],
    }


def budget_status(
    conn: Connection, config: cfg.AlertsConfig, tenant: str, now: datetime
) -> list[dict[str, Any]]:
    """One entry per budget rule (and per key of its ``per``) that applies to ``tenant``."""
    out = []
    for rule in config.rules:
        if not isinstance(rule, cfg.BudgetRule) or not _applies(rule, tenant):
            continue
        span = budget_window(now, rule.window, rule.timezone)
        scoped = rule.filters.model_copy(update={"tenant": [tenant]})
        found: Mapping[Key, Totals | None]
        found = totals(conn, span.start, span.end, scoped, rule.per)
        if not found and not rule.per:
            found = {(("tenant", tenant),): None}  # no spend yet: still report the budget
        recent = budget_recent_spend(conn, rule, span, scoped) if any(found.values()) else {}
        for key, t in sorted(found.items()):
            spend = t.cost_usd if t else 0.0
            obs = budget_observation(rule, key, spend, span, recent.get(key, 0.0))
            state = "critical" if obs.value >= rule.limit_usd else "warn" if obs.breached else "ok"
            labels = {k: v for k, v in key_dims(key).items() if k != "tenant"}
            out.append({
                "rule": rule.name,
                "tenant": tenant,
                "window": rule.window,
                "labels": labels,
                "spend_usd": obs.value,
                "limit_usd": rule.limit_usd,
                "warn_usd": rule.warn_usd,
                "state": state,
                "forecast_exhaustion": iso(obs.extra["forecast_exhaustion"]),
                "forecast": obs.extra["forecast"],
            })  # fmt: skip
    return out


def _tenants(conn: Connection) -> list[str]:
    """Every tenant with spend on record: an admin's budget view covers them all."""
    column = Rollup.__table__.c.tenant
    return list(conn.scalars(select(column).distinct().order_by(column)))


def routes(store: AlertStore, engine: AlertEngine) -> list[Route]:
    """The alerting routes, to mount behind the server's auth middleware."""

    def alerts(request: Request) -> JSONResponse:
        try:
            limit = min(int(request.query_params.get("limit", "200")), _MAX_HISTORY)
            tenant = _tenant_scope(request)
        except ValueError:
            return JSONResponse({"error": "limit must be an integer"}, status_code=400)
        except ForbiddenError as exc:
            return _forbidden(exc)
        with Session(store.engine) as session:
            body = alerts_view(session, engine.config, tenant, max(0, limit))
        return JSONResponse(body)

    def budgets(request: Request) -> JSONResponse:
        try:
            tenant = _tenant_scope(request)
        except ForbiddenError as exc:
            return _forbidden(exc)
        now = datetime.now(UTC)
        with store.engine.connect() as conn:
            tenants = [tenant] if tenant is not None else _tenants(conn)
            items = [
                {"tenant": name, **item}
                for name in tenants
                for item in budget_status(conn, engine.config, name, now)
            ]
        # The caller's own key name: a guard applies the budgets kept per API key to it.
        return JSONResponse({"budgets": items, "api_key": request.state.principal.key_name})

    def slos(request: Request) -> JSONResponse:
        tenant = _tenant_scope(request) or str(request.state.principal.tenant)
        with store.engine.connect() as conn:
            items = slo_status(conn, engine.config, tenant, datetime.now(UTC))
        return JSONResponse({"slos": items})

    # Sync endpoints run in Starlette's thread pool, so the database never blocks the loop.
    return [
        Route("/api/v1/alerts", alerts, methods=["GET"]),
        Route("/api/v1/budgets", budgets, methods=["GET"]),
        Route("/api/v1/slos", slos, methods=["GET"]),
    ]
