"""kill switches: a tenant (or one of its stages) stopped by an operator; read by budget guards

Revision ID: 0006_kill_switches
Revises: 0005_evaluations
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_kill_switches"
down_revision = "0005_evaluations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kill_switches",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("stage", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "stage", name=op.f("pk_kill_switches")),
    )


def downgrade() -> None:
    op.drop_table("kill_switches")
