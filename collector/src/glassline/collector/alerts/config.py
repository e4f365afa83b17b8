"""The alert rule file: YAML validated by pydantic, every error reported with its path.

Rules are a tagged union on ``kind``; notifiers a tagged union on ``type``. Durations are
written ``30s``, ``5m``, ``1h``, ``1d``, ``1w`` (or a number of seconds). Cross references
(a rule naming a notifier, template fields) are checked after the models parse, so one
pass reports every error at once, each as ``rules[2].notifiers[0]: unknown notifier 'x'``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from glassline.collector.alerts import _checks
from glassline.collector.validation import read_yaml, validation_problems

__all__ = [
    "AbsentRule",
    "AlertConfigError",
    "AlertsConfig",
    "BudgetRule",
    "CacheHitRateRule",
    "DigestConfig",
    "ErrorRateRule",
    "LatencyRule",
    "LogNotifier",
    "QualityRule",
    "RetryRateRule",
    "Rule",
    "ShiftRule",
    "SlackNotifier",
    "SloRule",
    "SpikeRule",
    "WebhookNotifier",
    "load_config",
    "parse_config",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class AlertConfigError(ValueError):
    """The rule file is invalid; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid alert config:\n  " + "\n  ".join(errors))
        self.errors = errors


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 1h, 1d, 1w)")
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be positive")
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_not_negative)]
Window = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_positive)]
StrList = Annotated[list[str], BeforeValidator(_as_list)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Url = Annotated[str, AfterValidator(_http_url)]
Dimension = Literal[_checks.DIMENSIONS]  # type: ignore[valid-type]  # one list, in _checks
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Filters(_Strict):
    """Only rollup rows matching every given list are evaluated (``None`` = no filter)."""

    tenant: StrList | None = None
    user: StrList | None = None
    stage: StrList | None = None
    model: StrList | None = None
    route: StrList | None = None
    api_key: StrList | None = None  # key names, as auth.tenants names them
    service_version: StrList | None = None
    prompt_name: StrList | None = None
    prompt_version: StrList | None = None
    span_kind: StrList | None = None  # glassline span kind: llm, stage, tool, workflow, ...


class _RuleBase(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$", max_length=128)]
    filters: Filters = Filters()
    per: Annotated[list[Dimension], BeforeValidator(_as_list)] = []
    for_: Annotated[Duration, Field(alias="for")] = timedelta(0)
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    notifiers: StrList | None = None  # None: every notifier
    repeat_interval: Duration | None = None  # None: the file's default

    @property
    def window_text(self) -> str:
        window = getattr(self, "window", "")
        return window if isinstance(window, str) else format_duration(window)


class BudgetRule(_RuleBase):
    """Spend over a rolling or calendar window; ``warn_usd`` -> warning, ``limit_usd`` -> critical."""

    kind: Literal["budget"]
    window: Literal["1h", "24h", "calendar_day", "calendar_month"]
    timezone: TimeZone = "UTC"
    limit_usd: Annotated[float, Field(gt=0)]
    warn_usd: Annotated[float, Field(gt=0)] | None = None


class LatencyRule(_RuleBase):
    """A latency quantile from the merged rollup sketches above ``threshold_ms``."""

    kind: Literal["latency"]
    quantile: Literal["p50", "p90", "p95", "p99"] = "p95"
    window: Window = timedelta(minutes=5)
    threshold_ms: Annotated[float, Field(gt=0)]
    min_count: Annotated[int, Field(ge=1)] = 1


class ErrorRateRule(_RuleBase):
    """errors / requests above ``threshold`` once at least ``min_requests`` were seen."""

    kind: Literal["error_rate"]
    window: Window = timedelta(minutes=5)
    threshold: Fraction
    min_requests: Annotated[int, Field(ge=1)] = 20


class OffsetBaseline(_Strict):
    type: Literal["offset"]
    offset: Window = timedelta(days=1)  # the same window this long ago (1d or 1w)


class EwmaBaseline(_Strict):
    type: Literal["ewma"]
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    periods: Annotated[int, Field(ge=1, le=1000)] = 12  # preceding windows folded in


class SpikeRule(_RuleBase):
    """A metric ``factor`` times above its baseline (an earlier window, or an EWMA)."""

    kind: Literal["spike"]
    metric: Literal["cost", "tokens_per_request", "requests"]
    window: Window = timedelta(hours=1)
    factor: Annotated[float, Field(gt=1.0)]
    baseline: Annotated[OffsetBaseline | EwmaBaseline, Field(discriminator="type")] = (
        OffsetBaseline(type="offset")
    )
    min_baseline: Annotated[float, Field(ge=0.0)] = 0.0
    min_requests: Annotated[int, Field(ge=0)] = 1


class CacheHitRateRule(_RuleBase):
    """cache hits / lookups below ``below``, or ``drop`` (relative) under the baseline's."""

    kind: Literal["cache_hit_rate"]
    window: Window = timedelta(minutes=15)
    below: Fraction | None = None
    drop: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # 0.3: 30% under the baseline
    baseline: OffsetBaseline = OffsetBaseline(type="offset")
    min_lookups: Annotated[int, Field(ge=1)] = 20


class RetryRateRule(_RuleBase):
    """retries / requests above ``above``, or ``factor`` times the baseline's."""

    kind: Literal["retry_rate"]
    window: Window = timedelta(minutes=15)
    above: Annotated[float, Field(ge=0.0)] | None = None
    factor: Annotated[float, Field(gt=1.0)] | None = None
    baseline: OffsetBaseline = OffsetBaseline(type="offset")
    min_requests: Annotated[int, Field(ge=1)] = 20


class AbsentRule(_RuleBase):
    """No traffic for a window from a key seen during ``lookback`` (or named in the filters)."""

    kind: Literal["absent"]
    window: Window = timedelta(minutes=10)
    lookback: Window = timedelta(hours=24)


class BurnWindow(_Strict):
    """One multi-window burn-rate condition: both windows burn faster than ``factor``."""

    long: Window
    short: Window
    factor: Annotated[float, Field(gt=0.0)]


class SloRule(_RuleBase):
    """An objective with an error budget, alerted on by multi-window multi-burn-rate.

    The SLI is the share of good events: LLM calls without error (``availability``), LLM
    calls of at most ``threshold_ms`` (``latency``), or evaluations named ``evaluation`` that
    pass (label) or score at least ``min_score`` (``evaluation``). The burn rate is the bad
    share over ``1 - objective``; the fast condition (1 h and 5 min above 14.4x, Google SRE
    workbook) fires ``critical``, the slow one (6 h and 30 min above 6x) ``warning``, each as
    its own alert (label ``burn``).
    """

    kind: Literal["slo"]
    sli: Literal["availability", "latency", "evaluation"]
    objective: Annotated[float, Field(gt=0.0, lt=1.0)]
    threshold_ms: Annotated[float, Field(gt=0)] | None = None
    evaluation: Annotated[str, Field(min_length=1)] | None = None
    min_score: float | None = None
    period: Window = timedelta(days=30)  # the error budget's period (budget left is reported)
    fast_burn: BurnWindow = BurnWindow(
        long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4
    )
    slow_burn: BurnWindow = BurnWindow(
        long=timedelta(hours=6), short=timedelta(minutes=30), factor=6.0
    )
    min_count: Annotated[int, Field(ge=1)] = 1  # events in the long window to judge at all


class ShiftRule(_RuleBase):
    """The share of traffic on one ``dimension`` value moved more than ``points`` (0-100)."""

    kind: Literal["shift"]
    dimension: Literal["route", "model"]
    window: Window = timedelta(hours=1)
    baseline: OffsetBaseline = OffsetBaseline(type="offset")
    points: Annotated[float, Field(gt=0.0, le=100.0)]
    min_requests: Annotated[int, Field(ge=1)] = 20


QualityDimension = Literal["model", "stage", "prompt_name", "prompt_version"]


class QualityRule(_RuleBase):
    """An evaluation's mean score or pass rate ``below`` a value, or ``drop`` under its baseline.

    ``drop`` is absolute (0.1: a mean of 0.9 falling under 0.8; a pass rate of 0.95 under 0.85).
    Reads the evaluation rollups (by stage, model and prompt name/version).
    """

    kind: Literal["quality"]
    per: Annotated[list[QualityDimension], BeforeValidator(_as_list)] = []
    evaluation: Annotated[str, Field(min_length=1)]
    metric: Literal["mean", "pass_rate"] = "mean"
    window: Window = timedelta(hours=1)
    below: float | None = None
    drop: Annotated[float, Field(gt=0.0)] | None = None
    baseline: OffsetBaseline = OffsetBaseline(type="offset")
    min_count: Annotated[int, Field(ge=1)] = 20


Rule = Annotated[
    BudgetRule
    | LatencyRule
    | ErrorRateRule
    | SpikeRule
    | CacheHitRateRule
    | RetryRateRule
    | AbsentRule
    | SloRule
    | ShiftRule
    | QualityRule,
    Field(discriminator="kind"),
]


class _HttpNotifierBase(_Strict):
    name: str
    url: Url
    timeout: Window = timedelta(seconds=5)
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    backoff: Duration = timedelta(seconds=0.5)  # doubled after every failed attempt
    headers: dict[str, str] = {}


class WebhookNotifier(_HttpNotifierBase):
    type: Literal["webhook"]
    # The most alerts one message carries (0: all): a per-user budget can put thousands of
    # users in one group, megabytes a message, over what many receivers take.
    max_alerts: Annotated[int, Field(ge=0)] = 0


class SlackNotifier(_HttpNotifierBase):
    type: Literal["slack"]


class LogNotifier(_Strict):
    type: Literal["log"]
    name: str
    level: Literal["info", "warning"] = "warning"


Notifier = Annotated[WebhookNotifier | SlackNotifier | LogNotifier, Field(discriminator="type")]


class DigestConfig(_Strict):
    enabled: bool = False
    hour: Annotated[int, Field(ge=0, le=23)] = 8  # local hour after which yesterday is sent
    timezone: TimeZone = "UTC"
    notifiers: StrList | None = None


class AlertsConfig(_Strict):
    """The whole rule file."""

    evaluation_interval: Window = timedelta(seconds=15)
    dashboard_url: Url | None = None
    repeat_interval: Window = timedelta(hours=4)
    group_by: StrList = ["rule", "tenant"]
    send_resolved: bool = True
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    history_retention: Window = timedelta(days=90)  # alert_events / alert_digests kept this long
    notifiers: list[Notifier] = []
    rules: list[Rule] = []
    digest: DigestConfig = DigestConfig()

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_config(data: Any) -> AlertsConfig:
    """Validate a loaded YAML document; raise :class:`AlertConfigError` with every error."""
    if data is None:
        data = {}
    errors = _checks.reference_errors(data)  # checked on the raw data: reported in any case
    try:
        config = AlertsConfig.model_validate(data)
    except ValidationError as exc:
        raise AlertConfigError(validation_problems(exc, data) + errors) from None
    errors += _checks.rule_errors(config.rules)
    if errors:
        raise AlertConfigError(errors)
    return config


def load_config(path: str | Path) -> AlertsConfig:
    """Read and validate a rule file."""
    try:
        data = read_yaml(path)
    except ValueError as exc:
        raise AlertConfigError([f"<file>: {exc}"]) from None
    return parse_config(data)
