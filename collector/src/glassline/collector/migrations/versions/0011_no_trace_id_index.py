"""traces lose their index on trace_id alone

Revision ID: 0011_no_trace_id_index
Revises: 0010_budget_and_sdk_loss
Create Date: 2026-12-06

The index served one query, an admin opening a trace by id whatever its tenant, and cost every
new trace an insert at a random place of it: on SQLite 7-8% of the pages a 100-span write put
in the WAL (a store of 60,000-100,000 spans). That lookup now goes through the primary key,
once per tenant (``storage.queries.get_trace``).
"""

from __future__ import annotations

from alembic import op

revision = "0011_no_trace_id_index"
down_revision = "0010_budget_and_sdk_loss"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f("ix_traces_trace_id"), table_name="traces")


def downgrade() -> None:
    op.create_index(op.f("ix_traces_trace_id"), "traces", ["trace_id"], unique=False)
