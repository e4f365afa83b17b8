"""A collector with alert rules, for tests that drive the alerting API: without a rules file,
``/alerts``, ``/budgets`` and ``/slos`` all answer 404 ("alerting is off")."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from glassline.collector.testing import RunningCollector
from tests.e2e.alert_rules import collector_with_rules

# One budget and one SLO (YAML), so that each of the three routes has something to answer with.
ALERT_RULES = json.dumps(
    {
        "notifiers": [{"name": "log", "type": "log"}],
        "rules": [
            {"name": "daily", "kind": "budget", "window": "24h", "limit_usd": 10},
            {"name": "available", "kind": "slo", "sli": "availability", "objective": 0.99},
        ],
    }
)
TENANTS = ("acme", "globex")


@contextlib.contextmanager
def alerting_collector(
    directory: Path, config: dict[str, Any] | None = None
) -> Iterator[tuple[RunningCollector, httpx.Client]]:
    """A real collector for acme and globex with :data:`ALERT_RULES`, working in ``directory``,
    and a client of its HTTP API."""
    with (
        collector_with_rules(directory, ALERT_RULES, config, TENANTS) as collector,
        httpx.Client(base_url=collector.http_endpoint, timeout=30) as client,
    ):
        yield collector, client
