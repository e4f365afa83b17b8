"""alert evaluation claims: one row per evaluated interval, so replicas evaluate once

Revision ID: 0004_alert_evaluations
Revises: 0003_sampling
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_alert_evaluations"
down_revision = "0003_sampling"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_evaluations",
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("interval_ms", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slot", "interval_ms", name=op.f("pk_alert_evaluations")),
    )
    op.create_index(
        op.f("ix_alert_evaluations_evaluated_at"), "alert_evaluations", ["evaluated_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_evaluations_evaluated_at"), table_name="alert_evaluations")
    op.drop_table("alert_evaluations")
