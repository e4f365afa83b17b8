"""jobs.py: each job runs on its interval in one process at a time, under a database lease."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from glassline.collector.jobs import Job, JobRunner
from glassline.collector.storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'gl.db'}")
    yield store
    store.close()


def test_only_the_lease_holder_runs_a_job_and_another_takes_over_when_it_stops(
    store: Store, h: Any
) -> None:
    runs: list[str] = []
    lock = threading.Lock()

    def runner(name: str) -> JobRunner:
        def work() -> None:
            with lock:
                runs.append(name)

        job = Job("purge", interval_s=0.02, run=work, first_delay_s=0.0)
        return JobRunner(store, [job], lease_ttl_s=60)

    first, second = runner("first"), runner("second")
    first.start()
    h.wait_for(lambda: len(runs) >= 1, "the first run")
    second.start()
    h.wait_for(lambda: len(runs) >= 10, "ten runs")
    assert set(runs) == {"first"}  # the second runner never got the lease
    first.stop()
    before = len(runs)
    h.wait_for(lambda: "second" in runs[before:], "the second runner to take over")
    second.stop()
    assert second.runs["purge"] >= 1


def test_a_failing_job_is_retried_at_its_next_interval(store: Store, h: Any) -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("database hiccup")

    runner = JobRunner(store, [Job("flaky", 0.01, flaky, first_delay_s=0.0)], lease_ttl_s=60)
    runner.start()
    h.wait_for(lambda: runner.runs["flaky"] >= 1, "a successful run after two failures")
    runner.stop()
    assert len(attempts) >= 3


def test_retention_purge_runs_as_a_job(store: Store, h: Any) -> None:
    results: list[dict[str, int]] = []
    runner = JobRunner(
        store, [Job("retention", 0.01, lambda: results.append(store.purge()), 0.0)], lease_ttl_s=60
    )
    runner.start()
    h.wait_for(lambda: results, "a purge")
    runner.stop()
    assert set(results[0]) >= {"spans", "traces", "rollups"}
