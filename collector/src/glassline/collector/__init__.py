"""Glassline collector: OTLP receivers, tenants, processing pipeline, storage, alerts.

Run it with ``glassline-collector --config collector.yaml``; start it from tests with
:func:`glassline.collector.testing.run_collector`. Importing this package stays light.
"""

from __future__ import annotations

from glassline.collector.errors import (
    AuthError,
    ConfigError,
    GlasslineError,
    PermanentError,
    RetryableError,
)

__all__ = [
    "AuthError",
    "ConfigError",
    "GlasslineError",
    "PermanentError",
    "RetryableError",
]
