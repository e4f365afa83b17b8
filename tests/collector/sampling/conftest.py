from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glassline.collector.storage.store import Store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'glassline.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store.open(db_url)
    yield opened
    opened.close()
