"""rollups count what SDKs report: spans lost in the app, budget denials and degradations

Revision ID: 0010_budget_and_sdk_loss
Revises: 0009_search
Create Date: 2026-12-04

The minute, hour and day rollups get five measures, 0 in rows written before this revision
(their spans were not counted for them): ``sdk_lost_spans`` (the ``glassline.sdk.dropped_spans``
reports), ``budget_denied`` and ``budget_prevented_usd`` (calls a budget denied and their
estimated cost), ``budget_degraded`` and ``budget_degraded_usd`` (calls run degraded and their
cost).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_budget_and_sdk_loss"
down_revision = "0009_search"
branch_labels = None
depends_on = None

_TABLES = ("rollups", "rollups_hourly", "rollups_daily")
_MEASURES = (
    ("sdk_lost_spans", sa.BigInteger()),
    ("budget_denied", sa.Integer()),
    ("budget_prevented_usd", sa.Float()),
    ("budget_degraded", sa.Integer()),
    ("budget_degraded_usd", sa.Float()),
)


def upgrade() -> None:
    for table in _TABLES:
        for column, type_ in _MEASURES:
            op.add_column(table, sa.Column(column, type_, server_default="0", nullable=False))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            for column, _ in reversed(_MEASURES):
                batch.drop_column(column)
