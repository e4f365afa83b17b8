"""evaluations and their per-minute rollups

Revision ID: 0005_evaluations
Revises: 0004_alert_evaluations
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_evaluations"
down_revision = "0004_alert_evaluations"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ROLLUP_KEY = ["minute", "tenant", "name", "stage", "model", "prompt_name", "prompt_version"]


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("response_id", sa.String(length=256), nullable=True),
        sa.Column("score_value", sa.Float(), nullable=True),
        sa.Column("score_label", sa.String(length=256), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=256), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("prompt_name", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.String(length=128), nullable=True),
        sa.Column("service_version", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "id", name=op.f("pk_evaluations")),
    )
    op.create_index(
        op.f("ix_evaluations_tenant_trace_id"), "evaluations", ["tenant", "trace_id"]
    )
    op.create_index(
        op.f("ix_evaluations_tenant_name_time_ns"), "evaluations", ["tenant", "name", "time_ns"]
    )
    op.create_index(
        op.f("ix_evaluations_tenant_response_id"), "evaluations", ["tenant", "response_id"]
    )
    op.create_table(
        "evaluation_rollups",
        sa.Column("id", _ID, nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("stage", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("prompt_name", sa.String(length=256), nullable=False),
        sa.Column("prompt_version", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.Column("labelled", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_rollups")),
    )
    op.create_index(
        "ix_evaluation_rollups_key",
        "evaluation_rollups",
        _ROLLUP_KEY,
        unique=True,
    )
    op.create_index(
        op.f("ix_evaluation_rollups_tenant_minute"), "evaluation_rollups", ["tenant", "minute"]
    )


def downgrade() -> None:
    op.drop_table("evaluation_rollups")
    op.drop_table("evaluations")
