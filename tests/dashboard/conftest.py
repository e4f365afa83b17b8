"""Seeded stores for the dashboard tests, written by the collector's own Store.

SQLite stores are real files; PostgreSQL stores use a fresh schema per test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from glassline.collector.storage import Store
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window

from .seed import Traffic, build_traffic


def seed_store(url: str, traffic: Traffic) -> None:
    store = Store.open(url)
    try:
        store.write(traffic.records)
    finally:
        store.engine.dispose()


@pytest.fixture(scope="session")
def now_s() -> int:
    return int(time.time())


@pytest.fixture(scope="session")
def traffic(now_s: int) -> Traffic:
    return build_traffic(now_s)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, traffic: Traffic) -> str:
    path: Path = tmp_path_factory.mktemp("store") / "glassline.db"
    url = f"sqlite:///{path}"
    seed_store(url, traffic)
    return url


@pytest.fixture(scope="session")
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(traffic: Traffic) -> Iterator[str]:
    with isolated_postgres_url() as url:
        seed_store(url, traffic)
        yield url


@pytest.fixture
def hour(now_s: int) -> Window:
    """The last hour (plus the current minute), all tenants: covers all seeded traffic."""
    end = (now_s // 60 + 1) * 60
    return Window(start=end - 3600, end=end, bucket=60)
