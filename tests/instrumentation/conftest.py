"""Fixtures: a live fake LLM provider, a fake budgets API with a guard on it, span capture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_budgets_api import FakeBudgetsAPI
from fake_llm_server import FakeLLMServer

from glassline.instrumentation import _safe, budget_guard
from glassline.instrumentation.guard import BudgetGuard
from glassline.instrumentation.testing import SpanCapture, capture_spans


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spans() -> Iterator[SpanCapture]:
    _safe._reset_for_tests()
    with capture_spans() as captured:
        yield captured


@pytest.fixture
def api() -> Iterator[FakeBudgetsAPI]:
    running = FakeBudgetsAPI()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


@pytest.fixture
def guard(api: FakeBudgetsAPI) -> Iterator[BudgetGuard]:
    made = budget_guard(url=api.url, api_key="k", refresh_s=3600)  # refreshed by the tests
    assert made.ready()
    try:
        yield made
    finally:
        made.close()
