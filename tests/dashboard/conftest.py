"""Seeded stores for the dashboard tests: real SQLite files and real PostgreSQL schemas."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window

from .interim_writer import write
from .seed import Traffic, build_traffic

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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
    write(url, traffic.records)
    return url


@pytest.fixture(scope="session")
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(traffic: Traffic) -> Iterator[str]:
    """A fresh PostgreSQL schema per test, seeded, dropped afterwards."""
    schema = f"dash_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    write(url, traffic.records)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def hour(now_s: int) -> Window:
    """The last hour (plus the current minute), all tenants: covers all seeded traffic."""
    end = (now_s // 60 + 1) * 60
    return Window(start=end - 3600, end=end, bucket=60)
