"""Alert states and history, and sampling outcomes, from tables other collector parts add.

``alert_states`` / ``alert_events`` come with the collector's alerting (migration 0002) and
``sampling_stats`` with sampling (0003). A store may predate them, so their presence is checked
with the SQLAlchemy inspector and the page shows an empty state instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import case, func, inspect, select
from sqlalchemy.engine import Connection

from glassline.collector.alerts.models import FIRING, STATE_ORDER, AlertEvent, AlertState
from glassline.collector.sampling.models import SamplingStat
from glassline.dashboard.window import Window

__all__ = [
    "OpsTables",
    "alert_counts",
    "alert_history",
    "alert_states",
    "find_tables",
    "sampling_summary",
]

_HISTORY_LIMIT = 500
STATE_COLUMNS = ("rule", "tenant", "key", "state", "severity", "value", "threshold",
                 "active_since", "fired_at", "resolved_at", "updated_at")  # fmt: skip
EVENT_COLUMNS = ("at", "rule", "tenant", "key", "from_state", "to_state", "severity", "value",
                 "threshold")  # fmt: skip


@dataclass(frozen=True, slots=True)
class OpsTables:
    """Which optional tables the store has."""

    alerts: bool = False
    sampling: bool = False


def find_tables(conn: Connection) -> OpsTables:
    inspector = inspect(conn)
    return OpsTables(
        alerts=inspector.has_table(AlertState.__tablename__)
        and inspector.has_table(AlertEvent.__tablename__),
        sampling=inspector.has_table(SamplingStat.__tablename__),
    )


def _to_times(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for col in columns:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    return frame


def alert_states(
    conn: Connection, tenant: str | None, only_firing: bool = False, limit: int | None = None
) -> pd.DataFrame:
    """Current state of alert instances, the most pressing first (firing, pending, then the
    latest change), up to ``limit`` (empty without alert tables)."""
    if not find_tables(conn).alerts:
        return pd.DataFrame(columns=list(STATE_COLUMNS))
    query = select(*(getattr(AlertState, c) for c in STATE_COLUMNS))
    if tenant:
        query = query.where(AlertState.tenant == tenant)
    if only_firing:
        query = query.where(AlertState.state == FIRING)
    order = case(STATE_ORDER, value=AlertState.state, else_=len(STATE_ORDER))
    query = query.order_by(order, AlertState.updated_at.desc(), AlertState.rule, AlertState.key)
    frame = pd.DataFrame(
        conn.execute(query.limit(limit)).mappings().all(), columns=list(STATE_COLUMNS)
    )
    return _to_times(frame, ("active_since", "fired_at", "resolved_at", "updated_at"))


def alert_counts(conn: Connection, tenant: str | None) -> dict[str, int]:
    """Alert instances per state, and ``rules``: how many rules have one (counted in SQL: a
    per-user budget keeps an instance for each user that went over it)."""
    if not find_tables(conn).alerts:
        return {"rules": 0}
    by_state = select(AlertState.state, func.count()).group_by(AlertState.state)
    rules = select(func.count(func.distinct(AlertState.rule)))
    if tenant:
        by_state = by_state.where(AlertState.tenant == tenant)
        rules = rules.where(AlertState.tenant == tenant)
    counts = {str(state): int(n) for state, n in conn.execute(by_state)}
    return {**counts, "rules": int(conn.execute(rules).scalar_one())}


def alert_history(conn: Connection, window: Window) -> pd.DataFrame:
    """State changes in the window, newest first (at most 500)."""
    if not find_tables(conn).alerts:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    query = select(*(getattr(AlertEvent, c) for c in EVENT_COLUMNS)).where(
        AlertEvent.at >= window.start, AlertEvent.at < window.end
    )
    if window.tenant:
        query = query.where(AlertEvent.tenant == window.tenant)
    query = query.order_by(AlertEvent.at.desc(), AlertEvent.id.desc()).limit(_HISTORY_LIMIT)
    frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(EVENT_COLUMNS))
    return _to_times(frame, ("at",))


def sampling_summary(conn: Connection, window: Window) -> pd.DataFrame:
    """Traces kept and dropped per policy in the window ('' policy: dropped by none)."""
    columns = ["policy", "kept", "dropped"]
    if not find_tables(conn).sampling:
        return pd.DataFrame(columns=columns)
    kept = func.sum(case((SamplingStat.kept.is_(True), SamplingStat.traces), else_=0))
    dropped = func.sum(case((SamplingStat.kept.is_(False), SamplingStat.traces), else_=0))
    query = (
        select(SamplingStat.policy, kept.label("kept"), dropped.label("dropped"))
        .where(SamplingStat.minute >= window.start, SamplingStat.minute < window.end)
        .group_by(SamplingStat.policy)
        .order_by(SamplingStat.policy)
    )
    if window.tenant:
        query = query.where(SamplingStat.tenant == window.tenant)
    return pd.DataFrame(conn.execute(query).mappings().all(), columns=columns)
