"""Tail-sampling policies: small types behind one method, ``evaluate(trace) -> Decision``.

A policy judges a :class:`~glassline.collector.sampling.trace_view.TraceView`, one complete
trace. :func:`build_policy` turns a validated config into a policy tree; :class:`PolicySet` is
the top-level ordered list where the first policy that keeps a trace is the one recorded for
it. What a tree reads (spans, raw attributes) is :mod:`policy_reads`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from glassline.collector.sampling import config as cfg
from glassline.collector.sampling.head import bound_for_rate
from glassline.collector.sampling.trace_view import TYPED_KEYS, SpanLike, TraceView, duration_ms

__all__ = [
    "Decision",
    "Policy",
    "PolicySet",
    "build_policy",
    "build_policy_set",
]


@dataclass(frozen=True, slots=True)
class Decision:
    keep: bool
    policy: str | None = None  # the policy that kept the trace


DROP = Decision(False)


class Policy(Protocol):
    name: str

    def evaluate(self, trace: TraceView) -> Decision: ...


@dataclass(slots=True)
class _Predicate:
    """A stateless policy: keeps when ``test`` says so."""

    name: str
    test: Callable[[TraceView], bool]

    def evaluate(self, trace: TraceView) -> Decision:
        return Decision(True, self.name) if self.test(trace) else DROP


class _TokenBuckets:
    """Per-tenant token buckets refilled on the trace clock (trace start time).

    Trace time, not wall time, because the decider judges traces in bursts: a batch of
    500 traces decided in one instant must still be spread over the seconds they ran in.
    """

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        # A zero rate (a composite share of nothing) never keeps, not even a first trace.
        self.capacity = max(1.0, per_second) if per_second > 0 else 0.0
        self._state: dict[str, tuple[float, int]] = {}  # tenant -> (tokens, last ns)

    def take(self, tenant: str, at_ns: int) -> bool:
        tokens, last = self._state.get(tenant, (self.capacity, at_ns))
        tokens = min(self.capacity, tokens + max(0, at_ns - last) / 1e9 * self.rate)
        ok = tokens >= 1.0
        self._state[tenant] = (tokens - 1.0 if ok else tokens, max(last, at_ns))
        return ok


@dataclass(slots=True)
class _RateLimit:
    name: str
    buckets: _TokenBuckets

    def evaluate(self, trace: TraceView) -> Decision:
        if self.buckets.take(trace.tenant, trace.start_ns):
            return Decision(True, self.name)
        return DROP


@dataclass(slots=True)
class _Probabilistic:
    name: str
    bound: int
    salt: bytes

    def evaluate(self, trace: TraceView) -> Decision:
        digest = hashlib.blake2b(self.salt + trace.trace_id.encode(), digest_size=8).digest()
        keep = int.from_bytes(digest, "big") < self.bound
        return Decision(True, self.name) if keep else DROP


@dataclass(slots=True)
class _And:
    name: str
    parts: list[Policy]

    def evaluate(self, trace: TraceView) -> Decision:
        if all(p.evaluate(trace).keep for p in self.parts):
            return Decision(True, self.name)
        return DROP


@dataclass(slots=True)
class _Not:
    name: str
    inner: Policy

    def evaluate(self, trace: TraceView) -> Decision:
        return DROP if self.inner.evaluate(trace).keep else Decision(True, self.name)


@dataclass(slots=True)
class _Composite:
    """Ordered sub-policies, each with its own share of the composite's traces/s."""

    name: str
    parts: list[tuple[Policy, _TokenBuckets]]

    def evaluate(self, trace: TraceView) -> Decision:
        for policy, budget in self.parts:
            if policy.evaluate(trace).keep and budget.take(trace.tenant, trace.start_ns):
                return Decision(True, f"{self.name}/{policy.name}")
        return DROP


@dataclass(slots=True)
class PolicySet:
    """The top-level policy list: the first that keeps a trace is recorded for it."""

    policies: list[Policy]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.policies]

    def evaluate(self, trace: TraceView) -> Decision:
        for policy in self.policies:
            decision = policy.evaluate(trace)
            if decision.keep:
                return decision
        return DROP


def _attr_getter(key: str) -> Callable[[TraceView, SpanLike], Any]:
    typed = TYPED_KEYS
    if key == "tenant":
        return lambda trace, _span: trace.tenant
    if key in typed or key == "name":
        column = typed.get(key, key)
        return lambda _trace, span: getattr(span, column)
    return lambda _trace, span: (span.attributes or {}).get(key)


def _attribute_test(c: cfg.AttributePolicyConfig) -> Callable[[TraceView], bool]:
    get = _attr_getter(c.key)
    if c.regex is not None:
        pattern = re.compile(c.regex)
        match: Callable[[str], bool] = lambda v: pattern.search(v) is not None  # noqa: E731
    else:
        wanted = frozenset(c.values or ())
        match = wanted.__contains__

    def values(trace: TraceView) -> Iterable[str]:
        for span in trace.spans:
            value = get(trace, span)
            for v in value if isinstance(value, list) else (value,):
                if v is not None:
                    yield str(v).lower() if isinstance(v, bool) else str(v)

    return lambda trace: any(match(v) for v in values(trace))


def _latency_test(c: cfg.LatencyPolicyConfig) -> Callable[[TraceView], bool]:
    if c.scope == "root" and c.stage is None and c.model is None:
        return lambda t: t.root_duration_ms() > c.threshold_ms

    def test(trace: TraceView) -> bool:
        return any(
            duration_ms(s) > c.threshold_ms
            and (c.stage is None or s.stage == c.stage)
            and (c.model is None or s.model == c.model)
            for s in trace.spans
        )

    return test


def _predicate_test(c: Any) -> Callable[[TraceView], bool] | None:
    match c:
        case cfg.ErrorPolicyConfig():
            return lambda t: t.is_error()
        case cfg.LatencyPolicyConfig():
            return _latency_test(c)
        case cfg.CostPolicyConfig():
            return lambda t: t.cost_usd() >= c.threshold_usd
        case cfg.TokensPolicyConfig():
            return lambda t: t.tokens(c.count) >= c.threshold
        case cfg.RetriesPolicyConfig():
            return lambda t: max((s.retries or 0 for s in t.spans), default=0) >= c.min_retries
        case cfg.FallbackPolicyConfig():
            return lambda t: any(s.fallback for s in t.spans)
        case cfg.CachePolicyConfig():
            return lambda t: any(
                s.cache_hit is False and (c.layer is None or s.cache_layer == c.layer)
                for s in t.spans
            )
        case cfg.AttributePolicyConfig():
            return _attribute_test(c)
    return None


def _composite_parts(c: cfg.CompositePolicyConfig) -> list[tuple[Policy, _TokenBuckets]]:
    explicit = sum(e.share for e in c.policies if e.share is not None)
    implicit = [e for e in c.policies if e.share is None]
    leftover = (1.0 - explicit) / len(implicit) if implicit else 0.0
    parts = []
    for entry in c.policies:
        share = entry.share if entry.share is not None else leftover
        rate = share * c.max_traces_per_second
        parts.append((build_policy(entry.policy), _TokenBuckets(rate)))
    return parts


def build_policy(c: cfg.PolicyConfig) -> Policy:
    """One policy (tree) from its validated config."""
    test = _predicate_test(c)
    if test is not None:
        return _Predicate(c.label, test)
    match c:
        case cfg.RateLimitPolicyConfig():
            return _RateLimit(c.label, _TokenBuckets(c.traces_per_second))
        case cfg.ProbabilisticPolicyConfig():
            return _Probabilistic(c.label, bound_for_rate(c.rate), c.salt.encode())
        case cfg.AndPolicyConfig():
            return _And(c.label, [build_policy(p) for p in c.policies])
        case cfg.NotPolicyConfig():
            return _Not(c.label, build_policy(c.policy))
        case cfg.CompositePolicyConfig():
            return _Composite(c.label, _composite_parts(c))
    raise TypeError(f"unknown policy config {type(c).__name__}")  # unreachable: union is closed


def build_policy_set(config: cfg.SamplingConfig) -> PolicySet:
    """The ordered top-level policies of a sampling config."""
    return PolicySet([build_policy(p) for p in config.policies])
