"""seen_values: the cost of each hour's costliest trace, so ?min_cost= reads only those hours

Revision ID: 0015_seen_costs
Revises: 0014_seen_values
Create Date: 2026-12-07

A ``min_cost`` that matched nothing read every trace of the range (29-48 ms on 91,746
traces). Every write now records, by hour of the trace's start, the cost bucket of the
costliest trace it wrote (``storage.seen``, dimension ``cost``); this revision records each
hour's costliest stored trace, one grouped read of the traces.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op

revision = "0015_seen_costs"
down_revision = "0014_seen_values"
branch_labels = None
depends_on = None

_HOUR_NS = 3_600_000_000_000
# storage.seen's cost buckets (a migration does not import the app): 4 a doubling, clamped.
_STEPS, _LOW, _HIGH = 4, -30, 24


def _bucket(usd: float) -> int:
    if usd >= 2.0**_HIGH:
        return _HIGH * _STEPS
    return max(math.floor(math.log2(usd) * _STEPS), _LOW * _STEPS)


def upgrade() -> None:
    conn = op.get_bind()
    found = conn.execute(
        sa.text(
            f"SELECT tenant, start_ns / {_HOUR_NS} * 3600 AS hour, max(cost_usd) FROM traces "
            "WHERE cost_usd > 0 GROUP BY 1, 2"
        )
    ).all()
    rows = [
        {"tenant": tenant, "value": str(_bucket(usd)), "hour": hour} for tenant, hour, usd in found
    ]
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO seen_values (tenant, dimension, value, hour) "
                "VALUES (:tenant, 'cost', :value, :hour) ON CONFLICT DO NOTHING"
            ),
            rows,
        )


def downgrade() -> None:
    op.execute("DELETE FROM seen_values WHERE dimension = 'cost'")
