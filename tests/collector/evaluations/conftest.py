"""Stores for the evaluation tests: every test that takes ``store`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from glassline.collector.storage import Store


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store
