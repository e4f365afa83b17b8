"""Fixtures: a live fake LLM provider and span capture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_llm_server import FakeLLMServer

from glassline.instrumentation import _safe
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
