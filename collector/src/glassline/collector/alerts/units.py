"""What an alert's value and threshold measure, and how a person reads them.

A budget's value is dollars, a latency rule's milliseconds, an error rate a share: the text a
notifier prints and the dashboard shows says so (``$0.539``, ``612 ms``, ``22.4%``). Payloads
keep the raw numbers; the webhook JSON names the unit beside them.
"""

from __future__ import annotations

from glassline.collector.alerts import config as cfg
from glassline.pricing import format_usd

__all__ = ["format_value", "unit_of"]

# rule kind -> unit; spike and quality rules depend on their metric (see unit_of).
_UNITS = {
    "budget": "usd",
    "latency": "ms",
    "error_rate": "share",
    "cache_hit_rate": "share",
    "retry_rate": "per_call",  # retries per LLM call
    "absent": "requests",
    "slo": "burn_rate",
    "shift": "points",  # percentage points of traffic moved
}
_SPIKE_UNITS = {"cost": "usd", "tokens_per_request": "tokens", "requests": "requests"}
# The units read the same at every size (usd and ms are not: see format_value).
_FORMATS = {
    "share": "{:.1%}",
    "requests": "{:,.0f} requests",
    "tokens": "{:,.0f} tokens/request",
    "per_call": "{:.3g} per call",
    "burn_rate": "{:.3g}x",
    "points": "{:.3g} points",
}


def unit_of(rule: cfg.Rule) -> str:
    """The unit of ``rule``'s value and threshold: ``usd``, ``ms``, ``share`` (0-1),
    ``per_call``, ``requests``, ``tokens`` (per request), ``burn_rate``, ``points`` or
    ``score``."""
    if isinstance(rule, cfg.SpikeRule):
        return _SPIKE_UNITS[rule.metric]
    if isinstance(rule, cfg.QualityRule):
        return "share" if rule.metric == "pass_rate" else "score"
    return _UNITS.get(rule.kind, "score")


def format_value(unit: str, value: float | None) -> str:
    """``value`` as a person reads it in ``unit`` (``n/a`` when there is none)."""
    if value is None:
        return "n/a"
    if unit == "usd":  # the one rule for dollars, as every page and message reads them
        return format_usd(value)
    if unit == "ms":
        return f"{value:,.0f} ms" if abs(value) >= 10 else f"{value:.3g} ms"
    return _FORMATS.get(unit, "{:.4g}").format(value)
