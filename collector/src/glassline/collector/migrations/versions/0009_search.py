"""search_docs: full-text search over stored (redacted) content

Revision ID: 0009_search
Revises: 0008_version_dimensions
Create Date: 2026-12-04

PostgreSQL: ``body`` is a tsvector with a GIN index. SQLite: ``body`` is the words as text,
indexed by the FTS5 table ``search_fts`` (external content: the text is stored once, in
``search_docs``); triggers add and remove its entries with the rows, in the same transaction,
so deleting a ``search_docs`` row (retention, sampling) also deletes it from the index.
Spans stored before this revision are indexed by ``glassline-collector search-backfill``
(``Store.open`` does it for a small store; see ``storage/search_backfill.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_search"
down_revision = "0008_version_dimensions"
branch_labels = None
depends_on = None

_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(tenant, body, content='search_docs', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0', columnsize=0)",
    "CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
    "INSERT INTO search_fts(rowid, tenant, body) VALUES (new.id, new.tenant, new.body); END",
    "CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, tenant, body) "
    "VALUES ('delete', old.id, old.tenant, old.body); END",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "search_docs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column(
            "body", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_docs")),
    )
    op.create_index(op.f("ix_search_docs_tenant_trace_id"), "search_docs", ["tenant", "trace_id"])
    op.create_index(op.f("ix_search_docs_tenant_id"), "search_docs", ["tenant", "id"])
    if postgres:
        op.create_index("ix_search_docs_body", "search_docs", ["body"], postgresql_using="gin")
    else:
        for statement in _FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_docs_body", table_name="search_docs")
    else:
        op.execute("DROP TRIGGER search_docs_ad")
        op.execute("DROP TRIGGER search_docs_ai")
        op.execute("DROP TABLE search_fts")
    op.drop_index(op.f("ix_search_docs_tenant_id"), table_name="search_docs")
    op.drop_index(op.f("ix_search_docs_tenant_trace_id"), table_name="search_docs")
    op.drop_table("search_docs")
