"""storage/engine.py: the engines of the two databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from glassline.collector.storage import Store
from glassline.collector.storage.testing import (
    DEFAULT_POSTGRES_URL,
    isolated_postgres_url,
    llm_trace,
)

T0 = 1_700_000_000_000_000_000


@pytest.mark.postgres
def test_postgresql_plans_each_write_for_the_tables_as_they_are() -> None:
    """psycopg prepares a statement on its fifth run; PostgreSQL must not then keep one
    generic plan for it, made while the store's tables were empty."""
    with isolated_postgres_url(DEFAULT_POSTGRES_URL) as url:
        store = Store.open(url)
        try:
            for n in range(12):  # one thread: every write on the pool's one connection
                store.write([span for k in range(4) for span in llm_trace(4 * n + k, T0)])
            with store.engine.connect() as conn:
                generic, custom = conn.execute(
                    text(
                        "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)"
                        " FROM pg_prepared_statements"
                    )
                ).one()
        finally:
            store.close()
    assert custom > 0  # the writes' statements were prepared
    assert generic == 0
