"""Alerting: rules evaluated on the rollups, a persisted state machine, notifiers, digests."""

from __future__ import annotations

from glassline.collector.alerts.config import (
    AlertConfigError,
    AlertsConfig,
    load_config,
    parse_config,
)

__all__ = ["AlertConfigError", "AlertsConfig", "load_config", "parse_config"]
