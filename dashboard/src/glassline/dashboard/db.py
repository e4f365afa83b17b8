"""Read-only database access for the dashboard.

The dashboard never writes: SQLite connections run with ``PRAGMA query_only`` and PostgreSQL
sessions default to read-only transactions, so a bug here cannot damage the store.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from glassline.collector.storage.config import store_url
from glassline.dashboard.env import DEFAULT_DB_URL, ENV_DB_URL

__all__ = [
    "DatabaseUnavailable",
    "check_connection",
    "db_url_from_env",
    "make_engine",
]


class DatabaseUnavailable(Exception):
    """The store cannot be reached; ``str()`` is a one-line message fit for the user."""


def db_url_from_env() -> str:
    return os.environ.get(ENV_DB_URL) or DEFAULT_DB_URL


def make_engine(url: str) -> Engine:
    """An engine whose connections cannot write; :class:`DatabaseUnavailable` for a URL the
    collector would not take either."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    try:
        parsed = make_url(store_url(url))
    except (ValueError, ArgumentError) as exc:
        raise DatabaseUnavailable(f"{url!r} is no store URL: {exc}") from None
    if parsed.get_backend_name() == "postgresql":
        # Keep options given in the URL (e.g. a search_path) and add read-only on top.
        options = f"{parsed.query.get('options', '')} -c default_transaction_read_only=on"
        kwargs["connect_args"] = {"options": options.strip(), "connect_timeout": 5}
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_only)
    return engine


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    # The collector writes concurrently (WAL); wait for its locks instead of failing.
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` with a readable message if the store is unreachable."""
    safe_url = engine.url.render_as_string(hide_password=True)
    database = engine.url.database or ""
    in_file = engine.dialect.name == "sqlite" and database not in ("", ":memory:")
    # Connecting would silently create an empty file; say what is wrong instead.
    if in_file and not os.path.exists(database):
        raise DatabaseUnavailable(f"No Glassline store at {safe_url}: the file does not exist")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"Cannot reach the Glassline store at {safe_url}: {reason}"
        ) from exc
