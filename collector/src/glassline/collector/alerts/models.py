"""Alert tables, on the store's ``Base``; created by migrations ``0002_alerts``,
``0004_alert_evaluations``, ``0012_alert_deliveries`` and ``0013_slo_counts``.

Times are Unix seconds (the rollups' ``minute`` unit). One ``alert_states`` row per rule x
tenant x key (the rule's ``per`` dimensions) holds the current state and what was last
notified, so a restarted or different replica never notifies the same episode twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from glassline.collector.storage.models import Base, JsonType

__all__ = [
    "FIRING",
    "INACTIVE",
    "PENDING",
    "RESOLVED",
    "STATE_ORDER",
    "AlertDelivery",
    "AlertDigest",
    "AlertEvaluation",
    "AlertEvent",
    "AlertState",
    "SloCount",
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


class AlertDelivery(Base):
    """A notification one notifier is owed: decided by a pass, not yet delivered to it.

    One row per notifier x alert instance: a newer notice of the same alert (a repeat, an
    escalation, its resolution) replaces the row, so a notifier that cannot keep up is owed at
    most one notification per alert. ``given_at`` and ``giver`` (a dispatcher's id) are set while
    the row's message waits in that dispatcher's queue; a delivered row is deleted.
    ``decided_at`` is the row's version: an outcome settles only the notice it carried.
    """

    __tablename__ = "alert_deliveries"

    notifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    group_key: Mapped[str] = mapped_column(Text)  # the group labels as JSON: one message each
    state: Mapped[str] = mapped_column(String(16))  # firing or resolved
    alert: Mapped[dict[str, Any]] = mapped_column(JsonType)  # the alert as its payload shows it
    due_since: Mapped[int] = mapped_column(BigInteger)  # first owed: the order they go out in
    decided_at: Mapped[int] = mapped_column(BigInteger)
    given_at: Mapped[int | None] = mapped_column(BigInteger)
    giver: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # deliveries that failed

    __table_args__ = (Index(None, "notifier", "due_since"),)


class SloCount(Base):
    """One whole past UTC day of an SLO's (good, total) per key, for one tenant.

    ``slo`` names the rule's answer fields (hashed, see ``kept_days``); ``counts`` holds the
    day's ``fingerprint`` (what tells a late span changed it), the keys' ``per`` values and
    their ``good`` and ``total`` counts, in one JSON row: a row per key took 58,000 rows a rule
    to read back for 2,000 routes over 29 days.
    """

    __tablename__ = "slo_counts"

    slo: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds at 00:00 UTC
    counts: Mapped[dict[str, Any]] = mapped_column(JsonType)

    __table_args__ = (Index(None, "day"),)
