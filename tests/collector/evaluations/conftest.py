"""Stores for the evaluation tests: every test that takes ``store`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glassline.collector.storage import Store
from glassline.collector.storage.testing import isolated_postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'evaluations.db'}")
        yield opened
        opened.close()
        return
    with isolated_postgres_url() as url:
        opened = Store.open(url)
        yield opened
        opened.close()
