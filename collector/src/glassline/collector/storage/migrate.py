"""Apply the Alembic migrations shipped in ``glassline/collector/migrations``."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from glassline.collector.storage.engine import WRITE

__all__ = ["SCRIPT_LOCATION", "alembic_config", "downgrade", "upgrade"]

SCRIPT_LOCATION = "glassline.collector:migrations"
# Any fixed number: serializes replicas migrating one PostgreSQL database at startup.
_PG_MIGRATION_LOCK = 0x61A551E


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        step(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start at once.

    The whole upgrade runs in one write transaction: SQLite's ``BEGIN IMMEDIATE`` (or a
    PostgreSQL advisory lock) makes the second process wait, then find the schema current.
    """
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (an operator's step, under the same lock)."""
    _run(engine, command.downgrade, revision)
