"""Alert tables, on the store's ``Base``; created by migration ``0002_alerts``.

Times are Unix seconds (the rollups' ``minute`` unit). One ``alert_states`` row per rule x
tenant x key (the rule's ``per`` dimensions) holds the current state and what was last
notified, so a restarted or different replica never notifies the same episode twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from glassline.collector.storage.models import Base, JsonType

__all__ = [
    "FIRING",
    "INACTIVE",
    "PENDING",
    "RESOLVED",
    "STATE_ORDER",
    "AlertDigest",
    "AlertEvaluation",
    "AlertEvent",
    "AlertState",
]

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
# The order a person reads alerts in: what is firing first.
STATE_ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2, INACTIVE: 3}


class AlertState(Base):
    """Current state of one alert instance: inactive, pending, firing or resolved."""

    __tablename__ = "alert_states"

    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)  # "model=x,stage=y" or ""
    dims: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    active_since: Mapped[int | None] = mapped_column(BigInteger)  # breach first seen
    fired_at: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    last_notified_at: Mapped[int | None] = mapped_column(BigInteger)
    notified_severity: Mapped[str | None] = mapped_column(String(16))
    annotations: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    __table_args__ = (Index(None, "tenant", "state"),)


class AlertEvent(Base):
    """History: one row per state change (when, value, threshold)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(128))
    tenant: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(1024))
    dims: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index(None, "tenant", "at"), Index(None, "at"))


class AlertDigest(Base):
    """A digest claimed for a tenant and local day; the primary key makes the claim unique."""

    __tablename__ = "alert_digests"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, digest tz
    sent_at: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(256))


class AlertEvaluation(Base):
    """One evaluation interval claimed; the primary key lets one replica claim it.

    ``slot`` is the Unix time divided by the evaluation interval. The row is inserted in the
    transaction that advances the states, so a pass that fails leaves its interval unclaimed.
    """

    __tablename__ = "alert_evaluations"

    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    interval_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    evaluated_at: Mapped[int] = mapped_column(BigInteger, index=True)
    holder: Mapped[str] = mapped_column(String(256))
    rules: Mapped[int] = mapped_column(Integer)
