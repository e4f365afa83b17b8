"""Attributes that flow from a span to all its descendants: tenant, user, session, stage, workflow.

They live in one ContextVar holding an immutable mapping, so they follow the call stack, are
copied into ``asyncio`` tasks and threads started with a copied context, and cost one lookup
per span.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

from opentelemetry.util.types import AttributeValue

from glassline.instrumentation import _safe
from glassline.semconv import attributes as attrs

__all__ = ["context", "current_attributes"]

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_PROPAGATED: ContextVar[Mapping[str, AttributeValue]] = ContextVar(
    "glassline_propagated", default=_EMPTY
)

PROPAGATED_KEYS = (attrs.TENANT_ID, attrs.USER_ID, attrs.SESSION_ID, attrs.STAGE, attrs.WORKFLOW)


# The attributes every span started now inherits. The ContextVar's own method: it runs on
# every span, and a Python function around it would cost a frame.
current_attributes: Callable[[], Mapping[str, AttributeValue]] = _PROPAGATED.get


def merged(updates: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    """The current attributes with ``updates`` on top (no copy when there is nothing new)."""
    base = _PROPAGATED.get()
    if not updates:
        return base
    if not base:
        return updates
    return {**base, **updates}


def identity(
    tenant: str | None = None, user: str | None = None, session: str | None = None
) -> dict[str, str]:
    """The tenant/user/session attributes among the given values (None means unchanged)."""
    out: dict[str, str] = {}
    if tenant is not None:
        out[attrs.TENANT_ID] = str(tenant)
    if user is not None:
        out[attrs.USER_ID] = str(user)
    if session is not None:
        out[attrs.SESSION_ID] = str(session)
    return out


@contextmanager
def context(
    tenant: str | None = None, user: str | None = None, session: str | None = None
) -> Iterator[None]:
    """Stamp tenant, user and session ids on every span started inside the block.

    ``None`` leaves a value set by an outer block unchanged. Works across ``await`` and is
    inherited by ``asyncio`` tasks created inside the block::

        with context(tenant="acme", user="u-42", session="s-1"):
            answer("...")
    """
    try:
        values = identity(tenant, user, session)
    except Exception as exc:  # an id whose __str__ raised: the block runs, without it
        _safe.report("context", exc)
        values = {}
    token = _PROPAGATED.set(merged(values))
    try:
        yield
    finally:
        _PROPAGATED.reset(token)


# Low-level, twice per decorated call (the ContextVar's own methods: no Python frame):
# make values the propagated attributes, returning a token; undo that with the token.
set_propagated: Callable[[Mapping[str, AttributeValue]], Token[Mapping[str, AttributeValue]]] = (
    _PROPAGATED.set
)
reset: Callable[[Token[Mapping[str, AttributeValue]]], None] = _PROPAGATED.reset
