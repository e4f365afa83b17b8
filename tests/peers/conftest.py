"""The peer suite's shared parts: venvs (made once, in parallel), the fake provider, one real
collector with a tenant per run, the egress recorder, and the results file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glassline.collector.testing import RunningCollector, run_collector

from . import venvs
from .egress import EgressRecorder
from .runs import RUNS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "instrumentation"))
from fake_llm_server import FakeLLMServer

RESULTS = venvs.ROOT / ".peers" / "results.json"


@pytest.fixture(scope="session")
def peer_pythons() -> dict[str, Path | venvs.PeerSetupError]:
    return venvs.ensure_all(sorted({run.venv for run in RUNS}))


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(rate_limit_failures=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def egress() -> Iterator[EgressRecorder]:
    recorder = EgressRecorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture(scope="session")
def peer_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    with run_collector(
        tenants=tuple(run.name for run in RUNS), workdir=tmp_path_factory.mktemp("peers")
    ) as collector:
        yield collector


@pytest.fixture(scope="session")
def peer_results() -> Iterator[dict[str, Any]]:
    """Filled by each run's test; written for tests/peers/table.py when the session ends."""
    results: dict[str, Any] = {}
    yield results
    if results:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        RESULTS.write_text(json.dumps({**previous, **results}, indent=2, sort_keys=True) + "\n")
