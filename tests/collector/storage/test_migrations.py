"""The Alembic migrations build exactly the schema models.py describes, on both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store, migrate
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.engine import make_engine
from glassline.collector.storage.migrate import alembic_config
from glassline.collector.storage.models import Base
from glassline.collector.storage.writer import add_to_rollups


def test_the_first_revision_is_0001_core() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0001_core").down_revision is None


def test_head_names_the_newest_migration() -> None:
    """Starts skip Alembic when the store is at HEAD: a new migration must move HEAD too."""
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == migrate.HEAD


def test_a_restart_on_a_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    Store.open(url).close()  # migrated here
    probe = (
        "import sys; from glassline.collector.storage import Store; "
        f"Store.open({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_migrated_schema_has_no_diff_from_the_models(store: Store) -> None:
    mine = set(Base.metadata.tables)

    # Later revisions (alerts, sampling) add their own tables: compare only ours. An index the
    # models make on one database only (``ddl_if``, e.g. PostgreSQL's GIN) is compared there.
    def include(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
        table = obj.name if type_ == "table" else obj.table.name
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return table in mine and only_on in (None, store.dialect)

    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        diff = compare_metadata(context, Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == []
    assert mine <= tables


def test_0008_keeps_older_rollup_rows_and_splits_new_ones_by_version(store_url: str) -> None:
    engine = make_engine(StorageConfig(url=store_url))
    try:
        migrate.upgrade(engine, "0007_span_content")
        with engine.begin() as conn:  # a row written by the 0007 collector
            conn.execute(
                text(
                    "INSERT INTO rollups (minute, tenant, kind, stage, model, route, count, errors,"
                    " input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,"
                    " reasoning_tokens, cost_usd, cache_hits, cache_lookups, retries, fallbacks,"
                    " duration_sum_ms, latency_sketch) VALUES (0, 'acme', 'llm', '', 'm', '', 3,"
                    " 0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 0, 0, :sketch)"
                ),
                {"sketch": b""},
            )
        migrate.upgrade(engine)
        spans = [
            SpanRecord("acme", "a" * 32, f"{i:016x}", "x", 0, 1, parent_span_id="c" * 16,
                       kind="llm", model="m", cost_usd=1.0, prompt_version=v)
            for i, v in enumerate(["v1", "v2"])
        ]  # fmt: skip
        with engine.begin() as conn:
            add_to_rollups(conn, spans, {})
            rows = conn.execute(
                text("SELECT prompt_version, api_key, count, cost_usd FROM rollups ORDER BY 1")
            ).all()
            assert [tuple(r) for r in rows] == [("", "", 3, 0.5), ("v1", "", 1, 1.0),
                                                ("v2", "", 1, 1.0)]  # fmt: skip
        with pytest.raises(RuntimeError, match="split by version"):
            migrate.downgrade(engine, "0007_span_content")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM rollups WHERE prompt_version = 'v2'"))
            conn.execute(text("UPDATE rollups SET minute = 60 WHERE prompt_version = 'v1'"))
            for table in ("rollups_hourly", "rollups_daily"):
                conn.execute(text(f"DELETE FROM {table}"))
        migrate.downgrade(engine, "0007_span_content")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("rollups")}
            assert "prompt_version" not in columns
            assert conn.execute(text("SELECT count(*) FROM rollups")).scalar() == 2
    finally:
        engine.dispose()
