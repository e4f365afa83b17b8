"""Tail-sampling policies: each kind keeps what it should, composition, recorded policy names."""

from __future__ import annotations

import random
from typing import Any

import pytest

from glassline.collector.records import SpanRecord
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.policies import build_policy, build_policy_set
from glassline.collector.sampling.trace_view import TraceView
from glassline.semconv import attributes as attrs

MS = 1_000_000
T0 = 1_700_000_000_000_000_000


def span(span_id: int = 1, parent: int | None = None, ms: float = 10, **fields: Any) -> SpanRecord:
    start = fields.pop("start_ns", T0)
    return SpanRecord(
        tenant=fields.pop("tenant", "acme"),
        trace_id=fields.pop("trace_id", "ab" * 16),
        span_id=f"{span_id:016x}",
        parent_span_id=f"{parent:016x}" if parent else None,
        name=fields.pop("name", "step"),
        start_ns=start,
        end_ns=start + int(ms * MS),
        **fields,
    )


def trace(*spans: SpanRecord, tenant: str = "acme", trace_id: str = "ab" * 16) -> TraceView:
    return TraceView(tenant=tenant, trace_id=trace_id, spans=list(spans))


def policy(**config: Any) -> Any:
    return build_policy(SamplingConfig.model_validate({"policies": [config]}).policies[0])


CASES: list[tuple[dict[str, Any], TraceView, bool]] = [
    ({"type": "error"}, trace(span(), span(2, 1, status="error")), True),
    ({"type": "error"}, trace(span(), span(2, 1, status="ok")), False),
    ({"type": "latency", "threshold_ms": 100}, trace(span(ms=150)), True),
    ({"type": "latency", "threshold_ms": 100}, trace(span(ms=50), span(2, 1, ms=500)), False),
    (
        {"type": "latency", "threshold_ms": 100, "scope": "any"},
        trace(span(ms=50), span(2, 1, ms=500)),
        True,
    ),
    # The root never arrived: the trace's extent stands in for it.
    (
        {"type": "latency", "threshold_ms": 100},
        trace(span(2, 1, ms=60), span(3, 1, ms=60, start_ns=T0 + 50 * MS)),
        True,
    ),
    (
        {"type": "latency", "threshold_ms": 100, "stage": "retrieve"},
        trace(span(ms=900), span(2, 1, ms=150, stage="retrieve")),
        True,
    ),
    (
        {"type": "latency", "threshold_ms": 100, "stage": "retrieve"},
        trace(span(ms=900), span(2, 1, ms=150, stage="generate")),
        False,
    ),
    (
        {"type": "latency", "threshold_ms": 100, "model": "gpt-4o"},
        trace(span(ms=900), span(2, 1, ms=150, model="gpt-4o")),
        True,
    ),
    (
        {"type": "latency", "threshold_ms": 100, "model": "gpt-4o"},
        trace(span(ms=900), span(2, 1, ms=50, model="gpt-4o")),
        False,
    ),
    (
        {"type": "cost", "threshold_usd": 0.5},
        trace(span(cost_usd=0.3), span(2, 1, cost_usd=0.25)),
        True,
    ),
    (
        {"type": "cost", "threshold_usd": 0.5},
        trace(span(cost_usd=0.3), span(2, 1, cost_usd=None)),
        False,
    ),
    (
        {"type": "tokens", "threshold": 1000},
        trace(span(input_tokens=600), span(2, 1, output_tokens=400)),
        True,
    ),
    (
        {"type": "tokens", "threshold": 1000, "count": "output"},
        trace(span(input_tokens=5000, output_tokens=10)),
        False,
    ),
    (
        {"type": "tokens", "threshold": 1000, "count": "input"},
        trace(span(input_tokens=5000, output_tokens=10)),
        True,
    ),
    ({"type": "retries"}, trace(span(), span(2, 1, retries=1)), True),
    ({"type": "retries", "min_retries": 2}, trace(span(), span(2, 1, retries=1)), False),
    ({"type": "fallback"}, trace(span(), span(2, 1, fallback=True)), True),
    ({"type": "fallback"}, trace(span(), span(2, 1, route="a")), False),
    (
        {"type": "cache_miss", "layer": "semantic"},
        trace(span(cache_layer="semantic", cache_hit=False)),
        True,
    ),
    (
        {"type": "cache_miss", "layer": "semantic"},
        trace(span(cache_layer="exact", cache_hit=False)),
        False,
    ),
    (
        {"type": "cache_miss", "layer": "semantic"},
        trace(span(cache_layer="semantic", cache_hit=True)),
        False,
    ),
    ({"type": "cache_miss"}, trace(span(cache_layer="exact", cache_hit=False)), True),
    ({"type": "attribute", "key": "tenant", "values": ["acme"]}, trace(span()), True),
    ({"type": "attribute", "key": "tenant", "values": ["globex"]}, trace(span()), False),
    (
        {"type": "attribute", "key": "user", "values": ["u-7"]},
        trace(span(), span(2, 1, user_id="u-7")),
        True,
    ),
    (
        {"type": "attribute", "key": "model", "regex": "^claude-"},
        trace(span(model="claude-3-5-sonnet")),
        True,
    ),
    (
        {"type": "attribute", "key": "model", "regex": "^claude-"},
        trace(span(model="gpt-4o")),
        False,
    ),
    (
        {"type": "attribute", "key": attrs.GEN_AI_PROVIDER_NAME, "values": ["openai"]},
        trace(span(attributes={attrs.GEN_AI_PROVIDER_NAME: "openai"})),
        True,
    ),
    (
        {"type": "attribute", "key": attrs.GEN_AI_RESPONSE_FINISH_REASONS, "values": ["length"]},
        trace(span(attributes={attrs.GEN_AI_RESPONSE_FINISH_REASONS: ["stop", "length"]})),
        True,
    ),
    (
        {"type": "attribute", "key": attrs.CACHE_HIT, "values": ["false"]},
        trace(span(attributes={attrs.CACHE_HIT: False})),
        True,
    ),
    ({"type": "not", "policy": {"type": "error"}}, trace(span(status="error")), False),
    ({"type": "not", "policy": {"type": "error"}}, trace(span()), True),
    (
        {"type": "and", "policies": [{"type": "error"}, {"type": "cost", "threshold_usd": 1}]},
        trace(span(status="error", cost_usd=2)),
        True,
    ),
    (
        {"type": "and", "policies": [{"type": "error"}, {"type": "cost", "threshold_usd": 1}]},
        trace(span(status="error", cost_usd=0.5)),
        False,
    ),
]


@pytest.mark.parametrize(("config", "view", "keep"), CASES)
def test_policy_keeps_exactly_the_traces_it_describes(
    config: dict[str, Any], view: TraceView, keep: bool
) -> None:
    decision = policy(**config).evaluate(view)
    assert decision.keep is keep
    assert decision.policy == (config["type"] if keep else None)


def test_first_keeping_policy_is_recorded_for_the_trace() -> None:
    config = SamplingConfig.model_validate(
        {
            "policies": [
                {"type": "error", "name": "errors"},
                {"type": "latency", "threshold_ms": 100, "name": "slow"},
            ]
        }
    )
    policies = build_policy_set(config)
    assert policies.names == ["errors", "slow"]
    assert policies.evaluate(trace(span(ms=500, status="error"))).policy == "errors"
    assert policies.evaluate(trace(span(ms=500))).policy == "slow"
    dropped = policies.evaluate(trace(span(ms=5)))
    assert not dropped.keep and dropped.policy is None


def _ids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(n)]


def test_probabilistic_is_consistent_by_trace_id_and_near_its_rate() -> None:
    ids = _ids(4000)
    first = policy(type="probabilistic", rate=0.25)
    second = policy(type="probabilistic", rate=0.25)
    kept = [first.evaluate(trace(span(trace_id=t), trace_id=t)).keep for t in ids]
    again = [second.evaluate(trace(span(trace_id=t), trace_id=t)).keep for t in ids]
    assert kept == again
    assert 0.21 < sum(kept) / len(ids) < 0.29


def test_probabilistic_salt_makes_choice_independent_of_head_sampling() -> None:
    ids = _ids(2000, seed=2)
    a = policy(type="probabilistic", rate=0.5, salt="a")
    b = policy(type="probabilistic", rate=0.5, salt="b")
    differ = sum(
        a.evaluate(trace(trace_id=t)).keep != b.evaluate(trace(trace_id=t)).keep for t in ids
    )
    assert differ > 500


def _burst(rate_policy: Any, tenant: str, seconds: int, per_second: int) -> int:
    kept = 0
    for sec in range(seconds):
        for i in range(per_second):
            start = T0 + sec * 1_000_000_000 + i * 1000
            view = trace(span(start_ns=start, tenant=tenant), tenant=tenant)
            kept += rate_policy.evaluate(view).keep
    return kept


def test_rate_limit_keeps_at_most_n_traces_per_second_per_tenant() -> None:
    limited = policy(type="rate_limit", traces_per_second=5)
    kept = _burst(limited, "acme", seconds=10, per_second=50)
    assert 5 * 10 <= kept <= 5 * 10 + 5
    # Traces of seconds already spent do not refill the budget.
    assert _burst(limited, "acme", seconds=1, per_second=50) == 0
    # Another tenant has its own budget.
    assert _burst(limited, "globex", seconds=1, per_second=50) == 5


def test_composite_applies_order_and_shares() -> None:
    composite = policy(
        type="composite",
        name="mix",
        max_traces_per_second=10,
        policies=[
            {"policy": {"type": "error"}, "share": 0.3},
            {"policy": {"type": "probabilistic", "rate": 1.0, "name": "rest"}},
        ],
    )
    errors = kept_rest = 0
    for i in range(100):  # 100 traces in one second, every other one an error
        view = trace(span(start_ns=T0 + i * 1000, status="error" if i % 2 else "ok"))
        decision = composite.evaluate(view)
        errors += decision.policy == "mix/error"
        kept_rest += decision.policy == "mix/rest"
    assert errors == 3
    assert kept_rest == 7


def test_composite_entry_with_no_share_left_never_keeps() -> None:
    composite = policy(
        type="composite",
        max_traces_per_second=10,
        policies=[
            {"policy": {"type": "error"}, "share": 1.0},
            {"policy": {"type": "fallback"}},
        ],
    )
    assert not composite.evaluate(trace(span(fallback=True))).keep
    assert composite.evaluate(trace(span(status="error"))).keep
