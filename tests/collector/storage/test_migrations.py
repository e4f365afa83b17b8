"""The Alembic migrations build exactly the schema models.py describes, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from glassline.collector.storage import Store
from glassline.collector.storage.migrate import alembic_config
from glassline.collector.storage.models import Base


def test_the_first_revision_is_0001_core() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0001_core").down_revision is None


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
