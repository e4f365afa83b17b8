"""Head sampling agrees with the OpenTelemetry SDK's TraceIdRatioBased sampler on every id."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from glassline.collector.sampling.head import HeadSampler, bound_for_rate

RATES = [0.0, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0]


def _sdk_keeps(sampler: TraceIdRatioBased, trace_id: str) -> bool:
    result = sampler.should_sample(None, int(trace_id, 16), "span")
    return result.decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize("rate", RATES)
def test_bound_is_the_sdk_bound(rate: float) -> None:
    assert bound_for_rate(rate) == TraceIdRatioBased.get_bound_for_rate(rate)


@pytest.mark.parametrize("rate", RATES)
def test_head_decision_matches_sdk_sampler_on_many_trace_ids(rate: float) -> None:
    rng = random.Random(rate)
    sdk, head = TraceIdRatioBased(rate), HeadSampler(rate)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(5000)]
    assert [head.keep(t) for t in ids] == [_sdk_keeps(sdk, t) for t in ids]


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_head_decision_matches_sdk_at_the_bound_edge(rate: float) -> None:
    sdk, head = TraceIdRatioBased(rate), HeadSampler(rate)
    bound = bound_for_rate(rate)
    for low in (bound - 1, bound, bound + 1):
        trace_id = f"{0xABCDEF:016x}{low:016x}"
        assert head.keep(trace_id) == _sdk_keeps(sdk, trace_id)
    assert head.keep(f"{0:016x}{bound - 1:016x}")
    assert not head.keep(f"{0:016x}{bound:016x}")


def test_lower_head_rate_keeps_a_subset_of_higher_rate() -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(5000)]
    low = {t for t in ids if HeadSampler(0.2).keep(t)}
    high = {t for t in ids if HeadSampler(0.6).keep(t)}
    assert low < high
    assert 0.15 < len(low) / len(ids) < 0.25


def test_rate_one_keeps_everything_and_zero_nothing() -> None:
    assert HeadSampler(1.0).keeps_everything
    assert not HeadSampler(0.99).keeps_everything
    assert HeadSampler(1.0).keep("f" * 32)
    assert not HeadSampler(0.0).keep("0" * 32)


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_rate_outside_unit_interval_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        HeadSampler(rate)
