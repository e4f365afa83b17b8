"""Config checks beyond the models: references, templates.

Every function returns ``path: message`` strings, so :func:`parse_config` can report all
problems of a rule file at once.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

__all__ = ["DIMENSIONS", "TEMPLATE_FIELDS", "reference_errors", "rule_errors"]

# What a rule may be split by (``per``): the user (budgets, from user_rollups) and the
# rollups' dimensions; ``api_key`` is a key's name, the versions split by deployment or prompt.
DIMENSIONS = (
    "user",
    "model",
    "stage",
    "route",
    "api_key",
    "service_version",
    "prompt_name",
    "prompt_version",
)
# What user_rollups (spend per user only) cannot be combined with.
_NOT_PER_USER = (*(d for d in DIMENSIONS if d != "user"), "span_kind")
# Fields every annotation template may use, besides the rule's labels and the dimensions.
TEMPLATE_FIELDS = frozenset(
    {"rule", "kind", "state", "severity", "value", "threshold", "window", "forecast", "tenant"}
)


def _items(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _names(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else value if isinstance(value, list) else []


def reference_errors(data: Any) -> list[str]:
    """Duplicate names and unknown notifier references, read from the raw document."""
    errors: list[str] = []
    notifiers = [n.get("name") for n in _items(data, "notifiers") if isinstance(n, dict)]
    for i, name in enumerate(notifiers):
        if name is not None and name in notifiers[:i]:
            errors.append(f"notifiers[{i}].name: duplicate notifier name {name!r}")
    seen: list[Any] = []
    for i, rule in enumerate(_items(data, "rules")):
        if not isinstance(rule, dict):
            continue
        if rule.get("name") is not None and rule.get("name") in seen:
            errors.append(f"rules[{i}].name: duplicate rule name {rule['name']!r}")
        seen.append(rule.get("name"))
        for j, ref in enumerate(_names(rule.get("notifiers"))):
            if ref not in notifiers:
                errors.append(f"rules[{i}].notifiers[{j}]: unknown notifier {ref!r}")
    digest = data.get("digest") if isinstance(data, dict) else None
    for j, ref in enumerate(_names(digest.get("notifiers") if isinstance(digest, dict) else None)):
        if ref not in notifiers:
            errors.append(f"digest.notifiers[{j}]: unknown notifier {ref!r}")
    return errors


def rule_errors(rules: Sequence[Any]) -> list[str]:
    """Template fields and dimension combinations of the parsed rules."""
    errors: list[str] = []
    for i, rule in enumerate(rules):
        errors += _template_errors(rule, f"rules[{i}]")
        errors += _dimension_errors(rule, f"rules[{i}]")
    return errors


def _template_errors(rule: Any, where: str) -> list[str]:
    allowed = TEMPLATE_FIELDS | set(DIMENSIONS) | set(rule.labels)
    errors = []
    for key, text in rule.annotations.items():
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            errors.append(f"{where}.annotations.{key}: bad template: {exc}")
            continue
        for field in sorted(fields):
            if field.split(".")[0].split("[")[0] not in allowed:
                errors.append(f"{where}.annotations.{key}: unknown template field {{{field}}}")
    return errors


def _dimension_errors(rule: Any, where: str) -> list[str]:
    errors = []
    by_user = "user" in rule.per or rule.filters.user is not None
    if by_user and rule.kind != "budget":
        errors.append(f"{where}.per: per-user evaluation exists only for budget rules")
    if by_user:
        for dim in _NOT_PER_USER:
            if dim in rule.per or getattr(rule.filters, dim) is not None:
                errors.append(f"{where}.per: {dim} cannot be combined with user")
    if rule.kind == "cache_hit_rate" and rule.below is None and rule.drop is None:
        errors.append(f"{where}: set below (absolute) and/or drop (relative to the baseline)")
    if rule.kind == "retry_rate" and rule.above is None and rule.factor is None:
        errors.append(f"{where}: set above (absolute) and/or factor (relative to the baseline)")
    if rule.kind == "budget" and rule.warn_usd is not None and rule.warn_usd >= rule.limit_usd:
        errors.append(f"{where}.warn_usd: must be below limit_usd ({rule.limit_usd})")
    return errors + _quality_errors(rule, where)


def _quality_errors(rule: Any, where: str) -> list[str]:
    """The slo, shift and quality kinds' own field combinations."""
    errors = []
    if rule.kind == "slo":
        if rule.sli == "latency" and rule.threshold_ms is None:
            errors.append(f"{where}.threshold_ms: a latency SLO needs threshold_ms")
        if rule.sli == "evaluation" and rule.evaluation is None:
            errors.append(f"{where}.evaluation: an evaluation SLO names its evaluation")
        for name in ("fast_burn", "slow_burn"):
            burn = getattr(rule, name)
            if burn.short >= burn.long:
                errors.append(f"{where}.{name}.short: must be shorter than long")
    if rule.kind == "shift" and rule.dimension in rule.per:
        errors.append(f"{where}.per: {rule.dimension} is the shifting dimension itself")
    if rule.kind == "quality" and rule.below is None and rule.drop is None:
        errors.append(f"{where}: set below (absolute) and/or drop (relative to the baseline)")
    if rule.kind in ("quality",) or (rule.kind == "slo" and rule.sli == "evaluation"):
        for dim in ("route", "span_kind"):  # evaluation rollups have no such dimension
            if getattr(rule.filters, dim) is not None or dim in rule.per:
                errors.append(f"{where}: evaluations are not kept by {dim} (filters, per)")
    return errors
