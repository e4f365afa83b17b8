"""Kill switches: an operator stops a tenant's model calls, or one stage's, at run time.

Stored in the ``kill_switches`` table (so every replica serves the same switches); set and
cleared with ``glassline-collector kill-switch ...`` or ``POST``/``DELETE
/api/v1/kill-switches``; read by the SDK's budget guards (``GET /api/v1/kill-switches``), which
deny calls of a switched-off tenant or stage within their refresh interval. ``stage`` ``""``
stands for the whole tenant. A tenant key sees and sets its own tenant's switches only.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.jsonsafe import safe_str
from glassline.collector.posted import BadBody, json_body
from glassline.collector.storage.engine import WRITE
from glassline.collector.storage.models import Base

__all__ = ["KillSwitch", "clear", "list_switches", "routes", "set_switch"]


class KillSwitch(Base):
    """One switched-off tenant (``stage == ""``) or stage of a tenant."""

    __tablename__ = "kill_switches"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    stage: Mapped[str] = mapped_column(String(256), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    set_at: Mapped[int] = mapped_column(BigInteger)  # Unix seconds


def set_switch(engine: Engine, *, tenant: str, stage: str = "", reason: str = "") -> dict[str, str]:
    """Switch the tenant (or its ``stage``) off; setting it again updates the reason.

    Returns the tenant, stage and reason as stored: text as ingest stores it (a NUL, which
    PostgreSQL keeps in no text, as U+FFFD). Raises ``ValueError`` naming a tenant or stage
    too long for its column (PostgreSQL refused the INSERT).
    """
    stored = {"tenant": safe_str(tenant), "stage": safe_str(stage), "reason": safe_str(reason)}
    for name in ("tenant", "stage"):
        width = cast(String, KillSwitch.__table__.c[name].type).length
        if width is not None and len(stored[name]) > width:
            raise ValueError(f"{name} is longer than {width} characters")
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        session = Session(bind=conn)
        session.merge(KillSwitch(**stored, set_at=int(time.time())))
        session.flush()
    return stored


def clear(engine: Engine, *, tenant: str, stage: str = "") -> bool:
    """Switch the tenant (or its ``stage``) back on; False if it was not switched off."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        stmt = delete(KillSwitch).where(KillSwitch.tenant == tenant, KillSwitch.stage == stage)
        return bool(conn.execute(stmt).rowcount)


def list_switches(engine: Engine, tenant: str | None = None) -> list[dict[str, Any]]:
    """The switches of ``tenant`` (None: every tenant's)."""
    stmt = select(KillSwitch).order_by(KillSwitch.tenant, KillSwitch.stage)
    if tenant is not None:
        stmt = stmt.where(KillSwitch.tenant == tenant)
    with Session(engine) as session:
        return [
            {"tenant": s.tenant, "stage": s.stage or None, "reason": s.reason, "set_at": s.set_at}
            for s in session.scalars(stmt)
        ]


def _scope(request: Request, asked: str | None) -> str | None:
    """The tenant the caller may act on: its own, or any for an admin (None: all, to list)."""
    principal = request.state.principal
    if principal.is_admin:
        return asked or None
    return str(principal.tenant)


def routes(engine: Engine) -> list[Route]:
    """``GET``, ``POST`` and ``DELETE /api/v1/kill-switches``, behind the auth middleware."""

    def get(request: Request) -> JSONResponse:
        tenant = _scope(request, request.query_params.get("tenant"))
        return JSONResponse({"kill_switches": list_switches(engine, tenant)})

    async def post(request: Request) -> JSONResponse:
        try:
            body = await json_body(request)
        except BadBody as bad:
            return JSONResponse({"error": bad.message}, status_code=bad.status)
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        tenant = _scope(request, body.get("tenant"))
        stage, reason = body.get("stage") or "", body.get("reason") or ""
        if not (tenant and all(isinstance(v, str) for v in (tenant, stage, reason))):
            return JSONResponse(
                {"error": "tenant (admins), stage and reason must be strings"}, status_code=400
            )
        try:
            stored = set_switch(engine, tenant=tenant, stage=stage, reason=reason)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({**stored, "stage": stored["stage"] or None})

    def remove(request: Request) -> JSONResponse:
        tenant = _scope(request, request.query_params.get("tenant"))
        if not tenant:
            return JSONResponse({"error": "tenant is required (admin key)"}, status_code=400)
        stage = request.query_params.get("stage") or ""
        return JSONResponse({"cleared": clear(engine, tenant=tenant, stage=stage)})

    return [
        Route("/api/v1/kill-switches", get, methods=["GET"]),
        Route("/api/v1/kill-switches", post, methods=["POST"]),
        Route("/api/v1/kill-switches", remove, methods=["DELETE"]),
    ]
