"""Migration 0003_sampling builds exactly the sampling tables of models.py, and undoes them."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from glassline.collector.sampling import models
from glassline.collector.storage.engine import WRITE
from glassline.collector.storage.migrate import alembic_config
from glassline.collector.storage.models import Base
from glassline.collector.storage.store import Store

SAMPLING_TABLES = {
    models.SamplingDecision.__tablename__,
    models.SamplingPending.__tablename__,
    models.SampledOutSpan.__tablename__,
    models.SamplingStat.__tablename__,
}


def test_0003_sampling_follows_0002_alerts() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0003_sampling").down_revision == "0002_alerts"


def test_migrated_sampling_tables_match_the_models(any_store: Store) -> None:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
        table = obj.name if type_ == "table" else obj.table.name
        return table in SAMPLING_TABLES

    with any_store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert set(inspect(conn).get_table_names()) >= SAMPLING_TABLES


def test_downgrade_to_0002_removes_only_the_sampling_tables(any_store: Store) -> None:
    config = alembic_config()
    with any_store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "0003_sampling")  # later revisions add tables of their own
        before = set(inspect(conn).get_table_names())
        command.downgrade(config, "0002_alerts")
        after = set(inspect(conn).get_table_names())
    assert before - after == SAMPLING_TABLES
