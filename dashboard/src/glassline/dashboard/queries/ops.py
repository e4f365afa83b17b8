"""Alert and sampling tables, which other collector components add later.

Their tables may be absent (an older store, or a collector without alerts or sampling), so
they are found with the SQLAlchemy inspector and reflected rather than imported: the page shows
an empty state instead of crashing, and new columns appear without a dashboard release.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import Connection

from glassline.dashboard.window import Window

__all__ = ["OpsTables", "find_tables", "firing_alerts", "read_table", "sampling_summary"]

_ROW_LIMIT = 500
_TIME_HINTS = ("_ns", "_at", "time", "minute", "since")


@dataclass(frozen=True, slots=True)
class OpsTables:
    """Names of the optional tables present in the store (``None`` when absent)."""

    alert_rules: str | None = None
    alert_states: str | None = None
    alert_history: str | None = None
    sampling: tuple[str, ...] = ()

    @property
    def has_alerts(self) -> bool:
        return any((self.alert_rules, self.alert_states, self.alert_history))


def find_tables(conn: Connection) -> OpsTables:
    names = sorted(inspect(conn).get_table_names())
    alerts = [n for n in names if "alert" in n]

    def first(word: str) -> str | None:
        return next((n for n in alerts if word in n), None)

    return OpsTables(
        alert_rules=first("rule"),
        alert_states=first("state"),
        alert_history=first("histor") or first("event"),
        sampling=tuple(n for n in names if n.startswith("sampling")),
    )


def _reflect(conn: Connection, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=conn)


def _time_column(table: Table) -> str | None:
    return next((c.name for c in table.columns if c.name.endswith(_TIME_HINTS)), None)


def _tenant_filter(table: Table, tenant: str | None) -> list[object]:
    return [table.c.tenant == tenant] if tenant and "tenant" in table.c else []


def read_table(
    conn: Connection, name: str, window: Window | None = None, limit: int = _ROW_LIMIT
) -> pd.DataFrame:
    """Up to ``limit`` rows, newest first when the table has a time column."""
    table = _reflect(conn, name)
    query = select(table).where(*_tenant_filter(table, window.tenant if window else None))
    time_col = _time_column(table)
    if time_col:
        query = query.order_by(table.c[time_col].desc())
    rows = conn.execute(query.limit(limit)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def firing_alerts(conn: Connection, tables: OpsTables, tenant: str | None) -> pd.DataFrame:
    """Rows of the alert state table whose state is ``firing`` (empty if there is none)."""
    if not tables.alert_states:
        return pd.DataFrame()
    table = _reflect(conn, tables.alert_states)
    state_col = next((c for c in ("state", "status") if c in table.c), None)
    if state_col is None:
        return pd.DataFrame()
    query = select(table).where(table.c[state_col] == "firing", *_tenant_filter(table, tenant))
    rows = conn.execute(query.limit(_ROW_LIMIT)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in table.columns])


def sampling_summary(conn: Connection, name: str, tenant: str | None) -> pd.DataFrame | None:
    """Traces per policy and decision, if the table has those columns; else ``None``."""
    table = _reflect(conn, name)
    decision = next((c for c in ("decision", "kept", "outcome") if c in table.c), None)
    if "policy" not in table.c or decision is None:
        return None
    query = (
        select(table.c.policy, table.c[decision].label("decision"), func.count().label("traces"))
        .where(*_tenant_filter(table, tenant))
        .group_by(table.c.policy, table.c[decision])
        .order_by(func.count().desc())
    )
    return pd.DataFrame(
        conn.execute(query).mappings().all(), columns=["policy", "decision", "traces"]
    )
