"""Kill switches: an operator stops a tenant's model calls, or one stage's, at run time.

Stored in the ``kill_switches`` table (so every replica serves the same switches); set and
cleared with ``glassline-collector kill-switch ...`` or ``POST``/``DELETE
/api/v1/kill-switches``; read by the SDK's budget guards (``GET /api/v1/kill-switches``), which
deny calls of a switched-off tenant or stage within their refresh interval. ``stage`` ``""``
stands for the whole tenant. A tenant key sees and sets its own tenant's switches only.

The list is bounded: a tenant holds at most :data:`MAX_PER_TENANT` switches, a reason at most
:data:`MAX_REASON` characters, and ``GET`` answers a page of at most :data:`MAX_PAGE` with a
``next_cursor`` for the next. A tenant key setting switches in a loop made one answer of 16 MB
(3,000 switches with 5 KB reasons), read whole by every guard at every refresh.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, String, Text, delete, func, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from glassline.collector.auth import Principal
from glassline.collector.errors import ForbiddenError
from glassline.collector.jsonsafe import safe_str
from glassline.collector.params import BadParameter, error, forbidden, number, unknown
from glassline.collector.posted import BadBody, json_body
from glassline.collector.storage.engine import WRITE
from glassline.collector.storage.models import Base

__all__ = [
    "MAX_PAGE",
    "MAX_PER_TENANT",
    "MAX_REASON",
    "KillSwitch",
    "TooMany",
    "clear",
    "list_switches",
    "routes",
    "set_switch",
]

MAX_PER_TENANT = 1000
MAX_REASON = 1000  # characters
MAX_PAGE = 1000


class TooMany(ValueError):
    """The tenant holds :data:`MAX_PER_TENANT` switches already."""


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
    if len(stored["reason"]) > MAX_REASON:
        raise ValueError(f"reason is longer than {MAX_REASON} characters")
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        session = Session(bind=conn)
        if session.get(KillSwitch, (stored["tenant"], stored["stage"])) is None:
            held = select(func.count()).where(KillSwitch.tenant == stored["tenant"])
            if (session.scalar(held) or 0) >= MAX_PER_TENANT:
                raise TooMany(
                    f"the tenant has {MAX_PER_TENANT} kill switches, the most it may: "
                    "clear one first (or switch the whole tenant off: no stage)"
                )
        session.merge(KillSwitch(**stored, set_at=int(time.time())))
        session.flush()
    return stored


def clear(engine: Engine, *, tenant: str, stage: str = "") -> bool:
    """Switch the tenant (or its ``stage``) back on; False if it was not switched off."""
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        stmt = delete(KillSwitch).where(KillSwitch.tenant == tenant, KillSwitch.stage == stage)
        return bool(conn.execute(stmt).rowcount)


def list_switches(
    engine: Engine, tenant: str | None = None, *, limit: int = MAX_PAGE, after: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the switches of ``tenant`` (None: every tenant's), by tenant and stage, from
    the cursor ``after``; and the cursor of the next page (None: this is the last). Raises
    BadParameter for a cursor this function did not make."""
    stmt = select(KillSwitch).order_by(KillSwitch.tenant, KillSwitch.stage).limit(limit + 1)
    if tenant is not None:
        stmt = stmt.where(KillSwitch.tenant == tenant)
    if after is not None:
        stmt = stmt.where(tuple_(KillSwitch.tenant, KillSwitch.stage) > _decode_cursor(after))
    with Session(engine) as session:
        found = list(session.scalars(stmt))
    page = [
        {"tenant": s.tenant, "stage": s.stage or None, "reason": s.reason, "set_at": s.set_at}
        for s in found[:limit]
    ]
    last = found[limit - 1] if len(found) > limit else None
    return page, None if last is None else _encode_cursor(last.tenant, last.stage)


def _encode_cursor(tenant: str, stage: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([tenant, stage]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        tenant, stage = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(tenant, str) and isinstance(stage, str):
            tenant.encode("utf-8"), stage.encode("utf-8")  # a lone surrogate fails the driver
            return tenant, stage
    except (ValueError, TypeError, RecursionError, binascii.Error):
        pass
    raise BadParameter("cursor", "not a cursor returned by this API")


def _scope(request: Request, asked: object) -> str | None:
    """The tenant the caller may act on: its own, or any for an admin (None: all, to list);
    raises ForbiddenError when a tenant names another, as the rest of the API answers it
    (taken as its own, a DELETE naming another tenant cleared the caller's own switch)."""
    principal: Principal = request.state.principal
    if principal.is_admin:
        return asked or None  # type: ignore[return-value]  # the body's type is checked later
    return principal.readable_tenant(asked if isinstance(asked, str) else None)


# A blank stage is most often an unset shell variable (-d "{\"stage\": \"$STAGE\"}"): taken
# as "no stage" it would stop, or resume, the whole tenant. The CLI refuses --stage "" alike.
_BLANK_STAGE = "stage is empty: leave it out to stop or resume the whole tenant"


def _blank(stage: object) -> bool:
    return isinstance(stage, str) and not stage.strip()


def routes(engine: Engine) -> list[Route]:
    """``GET``, ``POST`` and ``DELETE /api/v1/kill-switches``, behind the auth middleware."""

    def get(request: Request) -> JSONResponse:
        params = request.query_params
        if (refused := unknown(params, ("tenant", "limit", "cursor"))) is not None:
            return refused
        try:
            tenant = _scope(request, params.get("tenant"))
            limit = number(params, "limit", int, 1, MAX_PAGE) or MAX_PAGE
            page, cursor = list_switches(engine, tenant, limit=limit, after=params.get("cursor"))
        except BadParameter as bad:
            return error(400, f"{bad.parameter}: {bad.message}", bad.parameter)
        except ForbiddenError as exc:
            return forbidden(exc.message)
        return JSONResponse({"kill_switches": page, "next_cursor": cursor})

    async def post(request: Request) -> JSONResponse:
        try:
            body = await json_body(request)
        except BadBody as bad:
            return JSONResponse({"error": bad.message}, status_code=bad.status)
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        try:
            tenant = _scope(request, body.get("tenant"))
        except ForbiddenError as exc:
            return forbidden(exc.message)
        if _blank(body.get("stage")):
            return error(400, _BLANK_STAGE, "stage")
        stage, reason = body.get("stage") or "", body.get("reason") or ""
        if not (tenant and all(isinstance(v, str) for v in (tenant, stage, reason))):
            return JSONResponse(
                {"error": "tenant (admins), stage and reason must be strings"}, status_code=400
            )
        try:
            stored = set_switch(engine, tenant=tenant, stage=stage, reason=reason)
        except TooMany as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({**stored, "stage": stored["stage"] or None})

    def remove(request: Request) -> JSONResponse:
        if (refused := unknown(request.query_params, ("tenant", "stage"))) is not None:
            return refused
        try:
            tenant = _scope(request, request.query_params.get("tenant"))
        except ForbiddenError as exc:
            return forbidden(exc.message)
        if not tenant:
            return JSONResponse({"error": "tenant is required (admin key)"}, status_code=400)
        stage = request.query_params.get("stage")
        if _blank(stage):
            return error(400, _BLANK_STAGE, "stage")
        return JSONResponse({"cleared": clear(engine, tenant=tenant, stage=stage or "")})

    return [
        Route("/api/v1/kill-switches", get, methods=["GET"]),
        Route("/api/v1/kill-switches", post, methods=["POST"]),
        Route("/api/v1/kill-switches", remove, methods=["DELETE"]),
    ]
