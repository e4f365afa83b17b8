"""sampling state: decisions, pending traces, keys of counted-but-not-retained spans, stats

Revision ID: 0003_sampling
Revises: 0002_alerts
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sampling"
down_revision = "0002_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sampling_decisions",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("decided_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "trace_id", name=op.f("pk_sampling_decisions")),
    )
    op.create_index(
        op.f("ix_sampling_decisions_decided_ns"), "sampling_decisions", ["decided_ns"]
    )
    op.create_index(
        op.f("ix_sampling_decisions_tenant_decided_ns"),
        "sampling_decisions",
        ["tenant", "decided_ns"],
    )
    op.create_table(
        "sampling_pending",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("queued_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "trace_id", name=op.f("pk_sampling_pending")),
    )
    op.create_index(op.f("ix_sampling_pending_queued_ns"), "sampling_pending", ["queued_ns"])
    op.create_table(
        "sampling_span_keys",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("seen_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "trace_id", "span_id", name=op.f("pk_sampling_span_keys")
        ),
    )
    op.create_index(op.f("ix_sampling_span_keys_seen_ns"), "sampling_span_keys", ["seen_ns"])
    op.create_table(
        "sampling_stats",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=256), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("traces", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute", "tenant", "policy", "kept", name=op.f("pk_sampling_stats")
        ),
    )


def downgrade() -> None:
    op.drop_table("sampling_stats")
    op.drop_index(op.f("ix_sampling_span_keys_seen_ns"), table_name="sampling_span_keys")
    op.drop_table("sampling_span_keys")
    op.drop_index(op.f("ix_sampling_pending_queued_ns"), table_name="sampling_pending")
    op.drop_table("sampling_pending")
    op.drop_index(
        op.f("ix_sampling_decisions_tenant_decided_ns"), table_name="sampling_decisions"
    )
    op.drop_index(op.f("ix_sampling_decisions_decided_ns"), table_name="sampling_decisions")
    op.drop_table("sampling_decisions")
