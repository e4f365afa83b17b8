"""Fixtures for the alerting tests: a real store, a real webhook receiver, span factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import Receiver, make_span


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


@pytest.fixture
def span() -> Callable[..., SpanRecord]:
    return make_span
