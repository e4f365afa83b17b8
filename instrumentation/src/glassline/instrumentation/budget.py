"""``budget_status()``: ask the collector how much of each spend budget is used.

Uses only the standard library (urllib). Never raises into the application: any failure
(collector down, timeout, bad JSON) returns a :class:`BudgetStatus` whose ``state`` is
``"unknown"`` and whose ``error`` says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from glassline.instrumentation import _safe
from glassline.instrumentation._api import get_json
from glassline.instrumentation.setup import connection

__all__ = ["Budget", "BudgetStatus", "budget_status"]

# The keys of a per-user (model, key...) budget that spent at least this share of its lowest
# level: the others are left out, as they cannot be in warn or critical. Every user of a
# 100,000-user budget made a 28.8 MB answer that took the collector 3.5 s, over the timeout.
MIN_SHARE = 0.5
BUDGETS_PATH = f"/api/v1/budgets?min_share={MIN_SHARE}"
_SEVERITY = {"ok": 0, "warn": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget rule's current window."""

    rule: str
    window: str
    spend_usd: float
    limit_usd: float
    warn_usd: float | None
    state: str  # "ok" | "warn" | "critical"
    forecast_exhaustion: str | None


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """All budgets of the caller's tenant; ``state`` is the worst of them, or ``"unknown"``."""

    state: str
    budgets: tuple[Budget, ...] = field(default=())
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the collector answered and no budget is critical."""
        return self.state in ("ok", "warn")


def api_url(given: str | None) -> str | None:
    """``GLASSLINE_API_URL``, else the init endpoint with the OTLP/HTTP port (4317 -> 4318)."""
    if given or os.environ.get("GLASSLINE_API_URL"):
        return (given or os.environ["GLASSLINE_API_URL"]).rstrip("/")
    endpoint = connection().endpoint
    if not endpoint:
        return None
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    netloc = parts.netloc
    if connection().protocol == "grpc" and parts.port == 4317:
        netloc = f"{parts.hostname}:4318"
    return urlunsplit((parts.scheme, netloc, "", "", "")).rstrip("/")


def _parse(payload: Any) -> tuple[Budget, ...]:
    budgets = []
    for item in payload["budgets"]:
        warn = item.get("warn_usd")
        budgets.append(
            Budget(
                rule=str(item["rule"]),
                window=str(item["window"]),
                spend_usd=float(item["spend_usd"]),
                limit_usd=float(item["limit_usd"]),
                warn_usd=None if warn is None else float(warn),
                state=str(item["state"]),
                forecast_exhaustion=item.get("forecast_exhaustion"),
            )
        )
    return tuple(budgets)


def budget_status(
    *, base_url: str | None = None, api_key: str | None = None, timeout: float = 2.0
) -> BudgetStatus:
    """GET ``{base_url}/api/v1/budgets`` with the API key; ``state="unknown"`` on any failure.

    ``base_url`` defaults to ``GLASSLINE_API_URL``, else the collector of :func:`init`
    (its OTLP/HTTP port). The key defaults to ``init``'s / ``GLASSLINE_API_KEY``.
    """
    try:
        base = api_url(base_url)
        if base is None:
            return BudgetStatus("unknown", error="no collector URL: pass base_url or call init()")
        key = api_key or connection().api_key or os.environ.get("GLASSLINE_API_KEY")
        budgets = _parse(get_json(base + BUDGETS_PATH, api_key=key, timeout_s=timeout))
        worst = max((b.state for b in budgets), key=lambda s: _SEVERITY.get(s, -1), default="ok")
        return BudgetStatus(worst, budgets)
    except Exception as exc:  # the app asked a question; a broken answer is "unknown"
        _safe.report("budget_status", exc)
        return BudgetStatus("unknown", error=f"{type(exc).__name__}: {exc}")
