"""A rules file for tests that drive the alerting API through a real collector: without one,
``/alerts``, ``/budgets`` and ``/slos`` all answer 404 ("alerting is off")."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from glassline.collector.testing import RunningCollector, run_collector

# One budget and one SLO, so that each of the three routes has something to answer with.
ALERT_RULES = {
    "notifiers": [{"name": "log", "type": "log"}],
    "rules": [
        {"name": "daily", "kind": "budget", "window": "24h", "limit_usd": 10},
        {"name": "available", "kind": "slo", "sli": "availability", "objective": 0.99},
    ],
}


def alerting(directory: Path) -> dict[str, Any]:
    """The ``alerts`` config section, its rules file (:data:`ALERT_RULES`) written in ``directory``."""
    rules = directory / "alerts.yaml"
    rules.write_text(json.dumps(ALERT_RULES), encoding="utf-8")
    return {"alerts": {"rules_file": str(rules)}}


@contextlib.contextmanager
def alerting_collector(directory: Path) -> Iterator[tuple[RunningCollector, httpx.Client]]:
    """A real collector with :data:`ALERT_RULES`, working in ``directory``, and a client of its
    HTTP API."""
    with (
        run_collector(alerting(directory), workdir=directory / "c") as collector,
        httpx.Client(base_url=collector.http_endpoint, timeout=30) as client,
    ):
        yield collector, client
