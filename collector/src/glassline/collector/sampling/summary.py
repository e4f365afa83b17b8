"""Traces kept and dropped per policy, for the query API and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from glassline.collector.sampling.models import SamplingStat

__all__ = ["PolicyCount", "sampling_summary"]


@dataclass(frozen=True, slots=True)
class PolicyCount:
    """Traces one policy kept (``kept=True``) or dropped; ``policy`` is ``head`` for head
    sampling and ``""`` for traces no tail policy kept."""

    policy: str
    kept: bool
    traces: int


def sampling_summary(
    session: Session, tenant: str, start_ns: int, end_ns: int
) -> list[PolicyCount]:
    """Counts per policy for decisions made in ``[start_ns, end_ns)`` (minute resolution).

    Most traces first. Read from ``sampling_stats``, which lives as long as the rollups.
    """
    table = SamplingStat.__table__
    first = start_ns // 1_000_000_000 // 60 * 60
    last = end_ns // 1_000_000_000
    total = func.sum(table.c.traces)
    stmt = (
        select(table.c.policy, table.c.kept, total)
        .where(table.c.tenant == tenant, table.c.minute >= first, table.c.minute < last)
        .group_by(table.c.policy, table.c.kept)
        .order_by(total.desc(), table.c.policy)
    )
    return [PolicyCount(p, bool(k), int(n)) for p, k, n in session.execute(stmt)]
