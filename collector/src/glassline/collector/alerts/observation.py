"""What every rule evaluator shares: the observation it yields, and which spans it reads.

An :class:`Observation` is one key's measured value against its threshold and whether it
breaches; the state machine turns observations into pending / firing / resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.queries import Key
from glassline.collector.alerts.windows import Span

__all__ = ["Observation", "compare", "default_span_kinds"]


@dataclass(frozen=True, slots=True)
class Observation:
    key: Key
    value: float
    threshold: float
    breached: bool
    severity: str
    window: Span
    extra: dict[str, Any] = field(default_factory=dict)


def compare(
    key: Key,
    value: float,
    threshold: float,
    severity: str,
    span: Span,
    *,
    above: bool,
    **extra: Any,
) -> Observation:
    """The observation of ``value``: breached when above (or below) ``threshold``."""
    breached = value > threshold if above else value < threshold
    return Observation(key, value, threshold, breached, severity, span, extra)


def default_span_kinds(rule: cfg.Rule) -> list[str] | None:
    """Which span kinds a rule reads when its filters do not say (documented in alerts.md)."""
    if rule.kind == "latency":
        return ["stage"] if "stage" in rule.per and "model" not in rule.per else ["llm"]
    if rule.kind in ("error_rate", "retry_rate", "absent", "shift", "slo"):
        return ["llm"]
    if rule.kind == "spike" and rule.metric != "cost":
        return ["llm"]
    return None  # cost and cache lookups are counted on whichever span carries them
