"""Sampling config: a tagged union of policies, every error reported at once with its path."""

from __future__ import annotations

from typing import Any

import pytest

from glassline.collector.errors import ConfigError
from glassline.collector.sampling.config import (
    AndPolicyConfig,
    CompositePolicyConfig,
    LatencyPolicyConfig,
    SamplingConfigError,
    load_sampling_config,
)


def test_defaults_keep_everything_and_wait_ten_seconds() -> None:
    config = load_sampling_config(None)
    assert config.head_rate == 1.0
    assert config.tail_enabled is False
    assert config.decision_wait_s == 10.0
    assert config.wait_ns == 10_000_000_000
    assert config.policies == []


def test_tagged_union_builds_nested_policy_tree() -> None:
    config = load_sampling_config(
        {
            "tail_enabled": True,
            "policies": [
                {"type": "latency", "threshold_ms": 5000},
                {
                    "type": "and",
                    "name": "slow-gpt",
                    "policies": [
                        {"type": "latency", "threshold_ms": 100, "model": "gpt-4o"},
                        {"type": "not", "policy": {"type": "error"}},
                    ],
                },
                {
                    "type": "composite",
                    "max_traces_per_second": 10,
                    "policies": [
                        {"policy": {"type": "error"}, "share": 0.5},
                        {"policy": {"type": "probabilistic", "rate": 0.1}},
                    ],
                },
            ],
        }
    )
    latency, both, composite = config.policies
    assert isinstance(latency, LatencyPolicyConfig) and latency.threshold_ms == 5000
    assert latency.label == "latency"
    assert isinstance(both, AndPolicyConfig) and both.label == "slow-gpt"
    assert isinstance(composite, CompositePolicyConfig)
    assert composite.policies[1].share is None


BAD_CONFIGS: list[tuple[dict[str, Any], list[str]]] = [
    ({"head_rate": 2}, ["head_rate: Input should be less than or equal to 1 (got 2)"]),
    ({"decision_wait_s": 0}, ["decision_wait_s: Input should be greater than 0"]),
    ({"policies": [{"type": "latency", "threshold_ms": -5}]}, ["policies[0].threshold_ms:"]),
    ({"policies": [{"type": "bogus"}]}, ["policies[0]: Input tag 'bogus'"]),
    ({"policies": [{"type": "error", "color": "red"}]}, ["policies[0].color: Extra inputs"]),
    (
        {"policies": [{"type": "and", "policies": [{"type": "cost"}]}]},
        ["policies[0].policies[0].threshold_usd: Field required"],
    ),
    ({"policies": [{"type": "attribute", "key": "user"}]}, ["policies[0]: set exactly one of"]),
    (
        {"policies": [{"type": "attribute", "key": "user", "regex": "("}]},
        ["policies[0]: invalid regex"],
    ),
    (
        {
            "policies": [
                {
                    "type": "composite",
                    "max_traces_per_second": 1,
                    "policies": [
                        {"policy": {"type": "error"}, "share": 0.7},
                        {"policy": {"type": "fallback"}, "share": 0.7},
                    ],
                }
            ]
        },
        ["policies[0]: shares add up to 1.4"],
    ),
    (
        {"policies": [{"type": "error"}, {"type": "error"}]},
        ["duplicate policy name 'error' (also policies[0])"],
    ),
    (
        {"head_rate": -1, "policies": [{"type": "tokens", "threshold": 0, "count": "both"}]},
        ["head_rate:", "policies[0].threshold:", "policies[0].count:"],
    ),
]


@pytest.mark.parametrize(("data", "expected"), BAD_CONFIGS)
def test_invalid_config_reports_every_error_with_its_path(
    data: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(SamplingConfigError) as info:
        load_sampling_config(data)
    problems = info.value.problems
    assert len(problems) == len(expected), problems
    for line, prefix in zip(problems, expected, strict=True):
        assert prefix in line, (prefix, problems)
    assert isinstance(info.value, ConfigError)
