"""Head and tail sampling: decide which traces are retained, never what is counted.

Rollups count every span before sampling; sampling only decides which spans stay in the
``spans`` table. See ``docs/sampling.md``.
"""

from __future__ import annotations

from glassline.collector.sampling.config import (
    SamplingConfig,
    SamplingConfigError,
    load_sampling_config,
)
from glassline.collector.sampling.head import HeadSampler, bound_for_rate
from glassline.collector.sampling.policies import (
    Decision,
    Policy,
    PolicySet,
    TraceView,
    build_policy,
    build_policy_set,
)

__all__ = [
    "Decision",
    "HeadSampler",
    "Policy",
    "PolicySet",
    "SamplingConfig",
    "SamplingConfigError",
    "TraceView",
    "bound_for_rate",
    "build_policy",
    "build_policy_set",
    "load_sampling_config",
]
