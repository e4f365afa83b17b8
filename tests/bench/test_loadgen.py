"""The overload bench's open-loop schedule: when each request is sent."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from bench.loadgen import send_times


def test_uniform_arrivals_are_evenly_spaced_from_zero() -> None:
    times = send_times(5, 4.0, "uniform", random.Random(1))
    assert times == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_poisson_arrivals_have_the_rate_on_average_and_gaps_as_varied_as_their_mean() -> None:
    rate = 500.0
    times = send_times(20_000, rate, "poisson", random.Random(3))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 0.0
    assert all(gap >= 0 for gap in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)
    # Exponential gaps: standard deviation equal to the mean (uniform ones have none).
    assert statistics.stdev(gaps) == pytest.approx(1 / rate, rel=0.05)
    # A fifth of them closer than 0.223 of the mean gap (1 - e^-0.223 = 0.2).
    assert sum(gap < 0.223 / rate for gap in gaps) / len(gaps) == pytest.approx(0.2, abs=0.02)


def test_the_same_seed_gives_the_same_schedule_and_an_unknown_model_is_refused() -> None:
    assert send_times(50, 9.0, "poisson", random.Random(5)) == send_times(
        50, 9.0, "poisson", random.Random(5)
    )
    with pytest.raises(ValueError, match="arrivals must be one of"):
        send_times(3, 1.0, "bursty", random.Random(5))
