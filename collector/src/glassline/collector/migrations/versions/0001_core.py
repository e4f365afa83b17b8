"""core schema: spans, traces, minute/hour/day rollups, user rollups, leases

Revision ID: 0001_core
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


# The three rollup grains share one shape; only the bucket column differs.
_ROLLUP_TABLES = (("rollups", "minute"), ("rollups_hourly", "hour"), ("rollups_daily", "day"))
_DIMENSIONS = ("tenant", "kind", "stage", "model", "route")


def _create_rollups(table: str, bucket: str) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(bucket, sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("route", sa.String(length=256), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cache_hits", sa.Integer(), nullable=False),
        sa.Column("cache_lookups", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("duration_sum_ms", sa.Float(), nullable=False),
        sa.Column("latency_sketch", sa.LargeBinary(), nullable=False),
        sa.Column("ttft_sketch", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    key = [bucket, *_DIMENSIONS]
    op.create_index(op.f(f"ix_{table}_{'_'.join(key)}"), table, key, unique=True)
    op.create_index(op.f(f"ix_{table}_tenant_{bucket}"), table, ["tenant", bucket], unique=False)


def _drop_rollups(table: str, bucket: str) -> None:
    op.drop_index(op.f(f"ix_{table}_tenant_{bucket}"), table_name=table)
    op.drop_index(op.f(f"ix_{table}_{bucket}_{'_'.join(_DIMENSIONS)}"), table_name=table)
    op.drop_table(table)


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("expires_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    for table, bucket in _ROLLUP_TABLES:
        _create_rollups(table, bucket)
    op.create_table(
        "spans",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("otel_kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("service", sa.String(length=256), nullable=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=256), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_creation_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("cache_layer", sa.String(length=128), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=True),
        sa.Column("route", sa.String(length=256), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "resource",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant", "trace_id", "span_id", name=op.f("pk_spans")),
    )
    op.create_index(op.f("ix_spans_tenant_start_ns"), "spans", ["tenant", "start_ns"], unique=False)
    op.create_table(
        "traces",
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("root_span_id", sa.String(length=16), nullable=True),
        sa.Column("root_name", sa.String(length=512), nullable=True),
        sa.Column("service", sa.String(length=256), nullable=True),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("session_id", sa.String(length=256), nullable=True),
        sa.Column("span_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column(
            "models",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "stages",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "trace_id", name=op.f("pk_traces")),
    )
    op.create_index(op.f("ix_traces_start_ns"), "traces", ["start_ns"], unique=False)
    op.create_index(op.f("ix_traces_trace_id"), "traces", ["trace_id"], unique=False)
    op.create_index(
        op.f("ix_traces_tenant_session_id_start_ns"),
        "traces",
        ["tenant", "session_id", "start_ns"],
        unique=False,
    )
    op.create_index(
        op.f("ix_traces_tenant_start_ns"), "traces", ["tenant", "start_ns"], unique=False
    )
    op.create_index(
        op.f("ix_traces_tenant_user_id_start_ns"),
        "traces",
        ["tenant", "user_id", "start_ns"],
        unique=False,
    )
    op.create_table(
        "user_rollups",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "tenant", "user_id", name=op.f("pk_user_rollups")),
    )
    op.create_index(
        op.f("ix_user_rollups_tenant_user_id_minute"),
        "user_rollups",
        ["tenant", "user_id", "minute"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_rollups_tenant_user_id_minute"), table_name="user_rollups")
    op.drop_table("user_rollups")
    op.drop_index(op.f("ix_traces_tenant_user_id_start_ns"), table_name="traces")
    op.drop_index(op.f("ix_traces_tenant_start_ns"), table_name="traces")
    op.drop_index(op.f("ix_traces_tenant_session_id_start_ns"), table_name="traces")
    op.drop_index(op.f("ix_traces_trace_id"), table_name="traces")
    op.drop_index(op.f("ix_traces_start_ns"), table_name="traces")
    op.drop_table("traces")
    op.drop_index(op.f("ix_spans_tenant_start_ns"), table_name="spans")
    op.drop_table("spans")
    for table, bucket in reversed(_ROLLUP_TABLES):
        _drop_rollups(table, bucket)
    op.drop_table("leases")
