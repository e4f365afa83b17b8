"""Alerting: rules evaluated on the rollups, a persisted state machine, notifiers, digests.

``AlertEngine(store, load_config(path))`` evaluates; the server runs ``engine.run(stop)`` as a
background job, calls ``engine.reload(path)`` on SIGHUP and mounts ``routes(store, engine)``.
"""

from __future__ import annotations

from glassline.collector.alerts.api import budget_status, routes, routes_when_off
from glassline.collector.alerts.config import (
    AlertConfigError,
    AlertsConfig,
    load_config,
    parse_config,
)
from glassline.collector.alerts.engine import LEASE_NAME, AlertEngine, EvaluationReport

__all__ = [
    "LEASE_NAME",
    "AlertConfigError",
    "AlertEngine",
    "AlertsConfig",
    "EvaluationReport",
    "budget_status",
    "load_config",
    "parse_config",
    "routes",
    "routes_when_off",
]
