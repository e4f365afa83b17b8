"""span_content: GenAI content events (OTLP log records) waiting for or attached to their span

Revision ID: 0007_span_content
Revises: 0006_kill_switches
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_span_content"
down_revision = "0006_kill_switches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "span_content",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_ns", sa.BigInteger(), nullable=False),
        sa.Column("attached", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "trace_id", "span_id", "event_id", name=op.f("pk_span_content")
        ),
    )
    op.create_index(op.f("ix_span_content_received_ns"), "span_content", ["received_ns"])


def downgrade() -> None:
    op.drop_index(op.f("ix_span_content_received_ns"), table_name="span_content")
    op.drop_table("span_content")
