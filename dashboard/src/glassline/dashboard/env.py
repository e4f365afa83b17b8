"""The environment variables the dashboard reads (no heavy imports: the launcher uses them)."""

from __future__ import annotations

__all__ = ["DEFAULT_DB_URL", "ENV_ALERTS_CONFIG", "ENV_DB_URL", "ENV_PASSWORD"]

ENV_DB_URL = "GLASSLINE_DB_URL"
DEFAULT_DB_URL = "sqlite:///.glassline/glassline.db"
ENV_PASSWORD = "GLASSLINE_DASHBOARD_PASSWORD"
ENV_ALERTS_CONFIG = "GLASSLINE_ALERTS_CONFIG"
