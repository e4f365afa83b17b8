"""Apply the Alembic migrations shipped in ``glassline/collector/migrations``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from glassline.collector.storage.engine import WRITE

__all__ = ["SCRIPT_LOCATION", "alembic_config", "upgrade"]

SCRIPT_LOCATION = "glassline.collector:migrations"
# Any fixed number: serializes replicas migrating one PostgreSQL database at startup.
_PG_MIGRATION_LOCK = 0x61A551E


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start at once.

    The whole upgrade runs in one write transaction: SQLite's ``BEGIN IMMEDIATE`` (or a
    PostgreSQL advisory lock) makes the second process wait, then find the schema current.
    """
    config = alembic_config()
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
