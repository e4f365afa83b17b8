"""slo counts: each whole past UTC day of an SLO's (good, total) per key, counted once

Revision ID: 0013_slo_counts
Revises: 0012_alert_deliveries
Create Date: 2026-12-07

One row per SLO (its answer fields, hashed), tenant and UTC day, written by whichever process
counts the day first (the alert engine, the API, the dashboard) and read by every other.
Before, each process kept them in its own memory: the first pass after a start and every
API process's first SLO call counted the 29 whole days of a 30-day period again (17-21 s).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_slo_counts"
down_revision = "0012_alert_deliveries"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "slo_counts",
        sa.Column("slo", sa.String(length=32), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("counts", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("slo", "tenant", "day", name=op.f("pk_slo_counts")),
    )
    op.create_index(op.f("ix_slo_counts_day"), "slo_counts", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slo_counts_day"), table_name="slo_counts")
    op.drop_table("slo_counts")
