"""alert deliveries: what each notifier is owed, so a full queue delays a notification, never loses it

Revision ID: 0012_alert_deliveries
Revises: 0011_no_trace_id_index
Create Date: 2026-12-07

One row per notifier x alert instance, written in the transaction that decides the notice and
deleted once that notifier has delivered it. Before, a notification its notifier's queue could
not take was dropped, and sent again only at the alert's ``repeat_interval`` (4 h).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012_alert_deliveries"
down_revision = "0011_no_trace_id_index"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("notifier", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("alert", _JSON, nullable=False),
        sa.Column("due_since", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.Column("given_at", sa.BigInteger(), nullable=True),
        sa.Column("giver", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "notifier", "rule", "tenant", "key", name=op.f("pk_alert_deliveries")
        ),
    )
    op.create_index(
        op.f("ix_alert_deliveries_notifier_due_since"),
        "alert_deliveries",
        ["notifier", "due_since"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_deliveries_notifier_due_since"), table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
