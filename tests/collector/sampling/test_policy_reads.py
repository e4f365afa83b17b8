"""What a policy tree reads: the decider loads spans and raw attributes only when one does."""

from __future__ import annotations

from typing import Any

import pytest

from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.policy_reads import reads_attributes, reads_spans


@pytest.mark.parametrize(
    ("config", "spans", "attributes"),
    [
        ({"type": "error"}, False, False),
        ({"type": "latency", "threshold_ms": 1}, False, False),
        ({"type": "latency", "threshold_ms": 1, "scope": "any"}, True, False),
        ({"type": "latency", "threshold_ms": 1, "stage": "s"}, True, False),
        ({"type": "attribute", "key": "tenant", "values": ["a"]}, False, False),
        ({"type": "attribute", "key": "user", "values": ["a"]}, True, False),
        ({"type": "attribute", "key": "http.route", "values": ["a"]}, True, True),
        ({"type": "not", "policy": {"type": "fallback"}}, True, False),
        (
            {"type": "and", "policies": [{"type": "error"}, {"type": "cost", "threshold_usd": 1}]},
            False,
            False,
        ),
        (
            {
                "type": "composite",
                "max_traces_per_second": 1,
                "policies": [{"policy": {"type": "attribute", "key": "k", "regex": "x"}}],
            },
            True,
            True,
        ),
    ],
)
def test_decider_loads_spans_and_attributes_only_when_a_policy_reads_them(
    config: dict[str, Any], spans: bool, attributes: bool
) -> None:
    policies = SamplingConfig.model_validate({"policies": [config]}).policies
    assert reads_spans(policies) is spans
    assert reads_attributes(policies) is attributes
