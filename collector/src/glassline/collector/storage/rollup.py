"""Pure functions from spans to rollup deltas (no I/O): what one batch adds to each row.

The store calls these on the spans a write actually inserted, so a span retried by a client
is never counted twice. Rows are keyed by the bucket and
:data:`~glassline.collector.storage.models.ROLLUP_DIMENSIONS` with '' for a missing dimension;
user rows by (minute, tenant, user).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from glassline.collector.records import MAX_AMOUNT, SpanRecord
from glassline.collector.storage import sketch
from glassline.collector.storage.models import ROLLUP_DIMENSIONS
from glassline.semconv import attributes as attrs

__all__ = [
    "BOUNDED_DIMENSIONS",
    "COUNTERS",
    "USER_COUNTERS",
    "RollupDelta",
    "RollupKey",
    "UserDelta",
    "UserKey",
    "bucket_of",
    "coarsen",
    "merge_rollup_row",
    "merge_user_row",
    "new_rollup_row",
    "new_user_row",
    "rollup_deltas",
    "span_dims",
    "user_rollup_deltas",
]

RollupKey = tuple[Any, ...]  # bucket, then the values of ROLLUP_DIMENSIONS
UserKey = tuple[int, str, str]  # minute, tenant, user_id

# Additive measures of a rollup row, in column order.
COUNTERS = (
    "count",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cache_hits",
    "cache_lookups",
    "retries",
    "fallbacks",
    "duration_sum_ms",
    "sdk_lost_spans",
    "budget_denied",
    "budget_prevented_usd",
    "budget_degraded",
    "budget_degraded_usd",
)
USER_COUNTERS = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd")


def bucket_of(start_ns: int, bucket_s: int) -> int:
    """Unix seconds at the start of the bucket holding ``start_ns``."""
    seconds = start_ns // 1_000_000_000
    return seconds - seconds % bucket_s


@dataclass(slots=True)
class RollupDelta:
    """What a set of spans adds to one rollup row."""

    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    latency: list[float] = field(default_factory=list)  # durations (ms), sketched on write
    ttft: list[float] = field(default_factory=list)  # times to first token (ms)
    _bins: tuple[sketch.Bins, sketch.Bins] | None = None  # latency, ttft: binned once

    def add(self, span: SpanRecord) -> None:
        v = self.values
        v["count"] += 1
        v["errors"] += span.is_error
        v["input_tokens"] += span.input_tokens
        v["output_tokens"] += span.output_tokens
        v["cache_read_tokens"] += span.cache_read_tokens
        v["cache_creation_tokens"] += span.cache_creation_tokens
        v["reasoning_tokens"] += span.reasoning_tokens
        v["cost_usd"] += span.cost_usd or 0.0
        v["cache_hits"] += span.cache_hit is True
        v["cache_lookups"] += span.cache_hit is not None
        v["retries"] += span.retries
        v["fallbacks"] += span.fallback
        duration = span.duration_ms
        v["duration_sum_ms"] += duration
        self.latency.append(duration)
        if span.ttft_ms is not None and span.ttft_ms >= 0:
            self.ttft.append(span.ttft_ms)
        self._bins = None
        attributes = span.attributes
        if attrs.BUDGET_DECISION in attributes:
            _add_budget_decision(v, attributes, span.cost_usd)
        elif span.name == attrs.SDK_DROPPED_SPANS:
            v["sdk_lost_spans"] += span.sdk_lost_spans

    def bins(self) -> tuple[sketch.Bins, sketch.Bins]:
        """The latency and ttft values counted into sketch bins (computed once)."""
        if self._bins is None:
            self._bins = (sketch.Bins().add(self.latency), sketch.Bins().add(self.ttft))
        return self._bins

    def merge(self, other: RollupDelta) -> None:
        """Add ``other`` (the same spans' bins are added, not binned again)."""
        latency, ttft = self.bins()
        other_latency, other_ttft = other.bins()
        for name, value in other.values.items():
            self.values[name] += value
        self.latency.extend(other.latency)
        self.ttft.extend(other.ttft)
        latency.merge(other_latency)
        ttft.merge(other_ttft)


def _add_budget_decision(
    v: dict[str, float], attributes: Mapping[str, Any], cost_usd: float | None
) -> None:
    """Count an SDK budget decision: a denied call and the estimate it did not spend, or a
    degraded call and what it did spend (``glassline.budget.*``, see the SDK's ``_budget``)."""
    decision = attributes.get(attrs.BUDGET_DECISION)
    if decision == "deny":
        v["budget_denied"] += 1
        prevented = attributes.get(attrs.BUDGET_PREVENTED_USD)
        if (
            isinstance(prevented, float | int)
            and not isinstance(prevented, bool)
            and 0 < prevented <= MAX_AMOUNT
        ):
            v["budget_prevented_usd"] += prevented
    elif decision == "degrade":
        v["budget_degraded"] += 1
        v["budget_degraded_usd"] += cost_usd or 0.0


# The dimensions whose values come from the app's text (all but the tenant and the kind): a
# bound on their distinct values keeps an app's request ids out of the rollups' keys.
BOUNDED_DIMENSIONS = tuple(range(2, len(ROLLUP_DIMENSIONS)))
Dims = Callable[[SpanRecord], tuple[str, ...]]


def span_dims(span: SpanRecord) -> tuple[str, ...]:
    """The span's values of ROLLUP_DIMENSIONS, in that order."""
    return (
        span.tenant,
        span.kind or "other",
        span.stage or "",
        span.model or "",
        span.route or "",
        span.service_version or "",
        span.prompt_name or "",
        span.prompt_version or "",
        span.api_key or "",
    )


def rollup_deltas(
    spans: Iterable[SpanRecord], bucket_s: int = 60, dims: Dims = span_dims
) -> dict[RollupKey, RollupDelta]:
    """Group spans into rollup rows of ``bucket_s`` seconds (60, 3600 or 86400), each keyed
    by the span's ``dims``."""
    deltas: dict[RollupKey, RollupDelta] = {}
    for span in spans:
        key = (bucket_of(span.start_ns, bucket_s), *dims(span))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = RollupDelta()
        delta.add(span)
    return deltas


def coarsen(deltas: Mapping[RollupKey, RollupDelta], bucket_s: int) -> dict[RollupKey, RollupDelta]:
    """The deltas of ``bucket_s``-second rows (hour, day) from finer ones (minute).

    Equal to ``rollup_deltas(spans, bucket_s)`` (bucket sizes divide each other and start
    at the epoch), without visiting every span again.
    """
    out: dict[RollupKey, RollupDelta] = {}
    for (bucket, *dims), delta in deltas.items():
        key = (bucket - bucket % bucket_s, *dims)
        coarse = out.get(key)
        if coarse is None:
            coarse = out[key] = RollupDelta()
        coarse.merge(delta)
    return out


@dataclass(slots=True)
class UserDelta:
    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(USER_COUNTERS, 0))


def user_rollup_deltas(
    spans: Iterable[SpanRecord], trace_users: Mapping[tuple[str, str], str | None]
) -> dict[UserKey, UserDelta]:
    """Spend and requests per minute x tenant x user.

    A span without ``user_id`` is attributed to its trace's user (``trace_users``, keyed by
    tenant and trace id), since SDKs often set the user on the root span only. A request is a
    root span; its errors are root spans that failed.
    """
    deltas: dict[UserKey, UserDelta] = {}
    for span in spans:
        user = span.user_id or trace_users.get((span.tenant, span.trace_id))
        if not user:
            continue
        key = (bucket_of(span.start_ns, 60), span.tenant, user)
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = UserDelta()
        v = delta.values
        v["requests"] += span.is_root
        v["errors"] += span.is_root and span.is_error
        v["input_tokens"] += span.input_tokens
        v["output_tokens"] += span.output_tokens
        v["cost_usd"] += span.cost_usd or 0.0
    return deltas


def new_rollup_row(key: RollupKey, delta: RollupDelta, bucket_column: str) -> dict[str, Any]:
    """The full row for a key the table does not hold yet."""
    row: dict[str, Any] = {
        bucket_column: key[0],
        **dict(zip(ROLLUP_DIMENSIONS, key[1:], strict=True)),
    }
    row.update(delta.values)
    latency, ttft = delta.bins()
    row["latency_sketch"] = latency.encode()
    row["ttft_sketch"] = ttft.encode() if delta.ttft else None
    return row


def merge_rollup_row(existing: Mapping[str, Any], delta: RollupDelta) -> dict[str, Any]:
    """New values of the measures of an existing row plus ``delta`` (sketches merged)."""
    row: dict[str, Any] = {name: (existing[name] or 0) + delta.values[name] for name in COUNTERS}
    latency, ttft = delta.bins()
    row["latency_sketch"] = latency.encode(existing["latency_sketch"])
    stored_ttft = existing["ttft_sketch"]
    row["ttft_sketch"] = ttft.encode(stored_ttft) if delta.ttft else stored_ttft
    return row


def new_user_row(key: UserKey, delta: UserDelta) -> dict[str, Any]:
    minute, tenant, user = key
    return {"minute": minute, "tenant": tenant, "user_id": user, **delta.values}


def merge_user_row(existing: Mapping[str, Any], delta: UserDelta) -> dict[str, Any]:
    return {name: (existing[name] or 0) + delta.values[name] for name in USER_COUNTERS}
