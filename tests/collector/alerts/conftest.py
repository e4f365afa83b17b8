"""Fixtures for the alerting tests: a real store, a real webhook receiver, span factories."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.testing import DEFAULT_POSTGRES_URL, isolated_postgres_url

from .support import Receiver, make_span

POSTGRES_URL = os.environ.get("GLASSLINE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[str], Receiver]]:
    made: list[Receiver] = []

    def make(mode: str = "ok") -> Receiver:
        made.append(Receiver(mode))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def receiver(receiver_factory: Callable[[str], Receiver]) -> Receiver:
    return receiver_factory("ok")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'glassline.db'}")
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on a SQLite file and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'glassline.db'}")
        yield opened
        opened.close()
        return
    with isolated_postgres_url(POSTGRES_URL) as url:
        opened = Store.open(url)
        yield opened
        opened.close()


@pytest.fixture
def span() -> Callable[..., SpanRecord]:
    return make_span
