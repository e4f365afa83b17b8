"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer


@pytest.fixture
def provider() -> Iterator[FakeLLMServer]:
    """The fake LLM provider (OpenAI's and Anthropic's wire format) on a free loopback port."""
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()
