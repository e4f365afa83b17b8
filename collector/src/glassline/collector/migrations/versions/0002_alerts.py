"""alerts: alert states, state-change history, daily digest claims

Revision ID: 0002_alerts
Revises: 0001_core
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_alerts"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("dims", _JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("active_since", sa.BigInteger(), nullable=True),
        sa.Column("fired_at", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("last_notified_at", sa.BigInteger(), nullable=True),
        sa.Column("notified_severity", sa.String(length=16), nullable=True),
        sa.Column("annotations", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("rule", "tenant", "key", name=op.f("pk_alert_states")),
    )
    op.create_index(op.f("ix_alert_states_tenant_state"), "alert_states", ["tenant", "state"])
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("dims", _JSON, nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(op.f("ix_alert_events_tenant_at"), "alert_events", ["tenant", "at"])
    op.create_index(op.f("ix_alert_events_at"), "alert_events", ["at"])
    op.create_table(
        "alert_digests",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "day", name=op.f("pk_alert_digests")),
    )


def downgrade() -> None:
    op.drop_table("alert_digests")
    op.drop_index(op.f("ix_alert_events_at"), table_name="alert_events")
    op.drop_index(op.f("ix_alert_events_tenant_at"), table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index(op.f("ix_alert_states_tenant_state"), table_name="alert_states")
    op.drop_table("alert_states")
