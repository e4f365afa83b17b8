"""rollups by service version, prompt template (name, version) and API key

Revision ID: 0008_version_dimensions
Revises: 0007_span_content
Create Date: 2026-12-04

The minute, hour and day rollups get four dimension columns ('' for none, like the others)
and their unique key grows to hold them. Rows written before this revision keep '' in the
new columns: their spans were counted without these dimensions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_version_dimensions"
down_revision = "0007_span_content"
branch_labels = None
depends_on = None

_TABLES = (("rollups", "minute"), ("rollups_hourly", "hour"), ("rollups_daily", "day"))
_OLD_DIMENSIONS = ("tenant", "kind", "stage", "model", "route")
_NEW = (
    ("service_version", 128),
    ("prompt_name", 256),
    ("prompt_version", 128),
    ("api_key", 128),
)


def _old_index(table: str, bucket: str) -> str:
    return op.f(f"ix_{table}_{bucket}_{'_'.join(_OLD_DIMENSIONS)}")


def upgrade() -> None:
    for table, bucket in _TABLES:
        for column, length in _NEW:
            op.add_column(
                table,
                sa.Column(column, sa.String(length=length), server_default="", nullable=False),
            )
        op.drop_index(_old_index(table, bucket), table_name=table)
        # Named: the convention's name would pass PostgreSQL's 63-character limit.
        op.create_index(
            f"ix_{table}_key",
            table,
            [bucket, *_OLD_DIMENSIONS, *(c for c, _ in _NEW)],
            unique=True,
        )


def downgrade() -> None:
    # Rows that differ only in the new dimensions would collide under the old key: merging
    # sketches is the application's job, so a downgrade refuses a store that has such rows.
    bind = op.get_bind()
    for table, bucket in _TABLES:
        key = ", ".join([bucket, *_OLD_DIMENSIONS])
        split = bind.execute(
            sa.text(f"SELECT 1 FROM {table} GROUP BY {key} HAVING count(*) > 1 LIMIT 1")
        ).first()
        if split is not None:
            raise RuntimeError(
                f"{table} holds rows split by version or API key; cannot downgrade past 0008"
            )
    for table, bucket in _TABLES:
        op.drop_index(f"ix_{table}_key", table_name=table)
        op.create_index(_old_index(table, bucket), table, [bucket, *_OLD_DIMENSIONS], unique=True)
        with op.batch_alter_table(table) as batch:
            for column, _ in reversed(_NEW):
                batch.drop_column(column)
