"""evaluations get an index on time_ns

Revision ID: 0016_evaluations_time
Revises: 0015_seen_costs
Create Date: 2026-12-07

Two reads filtered evaluations on ``time_ns`` alone and so read every row: retention's delete
of the expired ones (each pass, under the write lock, whether or not any had expired) and the
dashboard's lowest-scored evaluations of a name for an admin (every tenant).
"""

from __future__ import annotations

from alembic import op

revision = "0016_evaluations_time"
down_revision = "0015_seen_costs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_evaluations_time_ns"), "evaluations", ["time_ns"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluations_time_ns"), table_name="evaluations")
