"""Sessions and users: a session's turns in order, and per-user spend and activity over time.

Sessions are read from ``traces`` (one trace per turn; a turn dropped by sampling is missing
from its session), users from ``user_rollups`` (pre-sampling, like every other aggregate).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from glassline.collector.storage import aggregates
from glassline.collector.storage.models import Trace
from glassline.collector.storage.queries import TraceFilter, trace_conditions
from glassline.dashboard.window import Window

__all__ = ["SESSION_COLUMNS", "TURN_COLUMNS", "session_turns", "sessions", "user_series"]

SESSION_COLUMNS = ["session_id", "tenant", "user_id", "turns", "failed_turns", "first_start",
                   "last_end", "duration_ms", "cost_usd", "input_tokens", "output_tokens"]  # fmt: skip
TURN_COLUMNS = ["trace_id", "tenant", "start", "root_name", "duration_ms", "cost_usd",
                "input_tokens", "output_tokens", "error_count"]  # fmt: skip


def sessions(conn: Connection, window: Window, user: str = "", limit: int = 200) -> pd.DataFrame:
    """Sessions with a turn in the window, latest activity first (stored traces)."""
    conds = trace_conditions(
        conn, window.tenant, window.start_ns, window.end_ns, TraceFilter(user_id=user)
    )
    last = func.max(Trace.end_ns)
    query = (
        select(
            Trace.session_id,
            Trace.tenant,
            func.max(Trace.user_id),
            func.count(),
            func.sum(case((Trace.error_count > 0, 1), else_=0)),
            func.min(Trace.start_ns),
            last,
            func.sum(Trace.duration_ms),
            func.sum(Trace.cost_usd),
            func.sum(Trace.input_tokens),
            func.sum(Trace.output_tokens),
        )
        .where(*conds, Trace.session_id.is_not(None))
        .group_by(Trace.tenant, Trace.session_id)
        .order_by(last.desc())
        .limit(limit)
    )
    frame = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=SESSION_COLUMNS)
    for col in ("first_start", "last_end"):
        frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="ns", utc=True)
    return frame


def session_turns(conn: Connection, window: Window, tenant: str, session_id: str) -> pd.DataFrame:
    """A session's turns (traces) in order, with cost, latency and tokens per turn.

    Not limited to the window: a session that started before it is shown whole.
    """
    query = (
        select(Trace.trace_id, Trace.tenant, Trace.start_ns, Trace.root_name, Trace.duration_ms,
               Trace.cost_usd, Trace.input_tokens, Trace.output_tokens, Trace.error_count)
        .where(Trace.tenant == tenant, Trace.session_id == session_id)
        .order_by(Trace.start_ns)
        .limit(1000)
    )  # fmt: skip
    frame = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=TURN_COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"].astype("int64"), unit="ns", utc=True)
    frame.insert(0, "turn", range(1, len(frame) + 1))
    return frame


def user_series(conn: Connection, window: Window, users: tuple[str, ...]) -> pd.DataFrame:
    """Spend, requests and failed requests per chart bucket for each of ``users``."""
    found = aggregates.user_sums(
        conn, window.start, window.end,
        tenant=[window.tenant] if window.tenant else None, users=list(users), bucket=window.bucket,
    )  # fmt: skip
    rows = [(bucket, user, v["cost_usd"], v["requests"], v["errors"])
            for (bucket, _, user), v in found.items()]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["bucket", "user_id", "cost_usd", "requests", "errors"])
    frame = frame.groupby(["bucket", "user_id"], as_index=False).sum()
    frame["time"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    return frame.sort_values("time", ignore_index=True)
