"""Head and tail sampling: decide which traces are retained, never what is counted.

Rollups count every span before sampling; sampling only decides which spans stay in the
``spans`` table. Wire :class:`SamplingSink` in place of the store as the pipeline's sink and
run :meth:`TailDecider.run_once` as a job. See ``docs/sampling.md``.
"""

from __future__ import annotations

from glassline.collector.sampling.config import (
    SamplingConfig,
    SamplingConfigError,
    load_sampling_config,
)
from glassline.collector.sampling.decider import DeciderReport, TailDecider
from glassline.collector.sampling.head import HeadSampler, bound_for_rate
from glassline.collector.sampling.policies import (
    Decision,
    Policy,
    PolicySet,
    build_policy,
    build_policy_set,
)
from glassline.collector.sampling.sink import SampledWriteResult, SamplingSink
from glassline.collector.sampling.summary import PolicyCount, sampling_summary
from glassline.collector.sampling.trace_view import TraceView

__all__ = [
    "DeciderReport",
    "Decision",
    "HeadSampler",
    "Policy",
    "PolicyCount",
    "PolicySet",
    "SampledWriteResult",
    "SamplingConfig",
    "SamplingConfigError",
    "SamplingSink",
    "TailDecider",
    "TraceView",
    "bound_for_rate",
    "build_policy",
    "build_policy_set",
    "load_sampling_config",
    "sampling_summary",
]
