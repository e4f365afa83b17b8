"""What a tree of policy configs reads, so the decider loads no more of a trace than that."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glassline.collector.sampling import config as cfg
from glassline.collector.sampling.trace_view import TYPED_KEYS

__all__ = ["reads_attributes", "reads_spans"]


def reads_spans(configs: Iterable[Any]) -> bool:
    """Whether any policy in the trees needs the spans, not just the trace summary."""
    for c in configs:
        match c:
            case (
                cfg.ErrorPolicyConfig()
                | cfg.CostPolicyConfig()
                | cfg.TokensPolicyConfig()
                | cfg.RateLimitPolicyConfig()
                | cfg.ProbabilisticPolicyConfig()
            ):
                continue
            case cfg.LatencyPolicyConfig(scope="root", stage=None, model=None):
                continue
            case cfg.AttributePolicyConfig(key="tenant"):
                continue
            case cfg.AndPolicyConfig():
                if reads_spans(c.policies):
                    return True
            case cfg.NotPolicyConfig():
                if reads_spans([c.policy]):
                    return True
            case cfg.CompositePolicyConfig():
                if reads_spans(e.policy for e in c.policies):
                    return True
            case _:
                return True
    return False


def reads_attributes(configs: Iterable[Any]) -> bool:
    """Whether any policy in the trees matches on a raw span attribute (the JSON column).

    The decider loads that column only when one does: decoding it is most of its cost.
    """
    for c in configs:
        match c:
            case cfg.AttributePolicyConfig():
                if c.key not in TYPED_KEYS and c.key not in ("tenant", "name"):
                    return True
            case cfg.AndPolicyConfig():
                if reads_attributes(c.policies):
                    return True
            case cfg.NotPolicyConfig():
                if reads_attributes([c.policy]):
                    return True
            case cfg.CompositePolicyConfig():
                if reads_attributes(e.policy for e in c.policies):
                    return True
    return False
