"""Three collector processes on one PostgreSQL, each receiving part of the spans of the same
traces and each running the decider, make exactly one decision per trace."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.sampling.decider import TailDecider
from glassline.collector.sampling.models import SamplingDecision, SamplingPending
from glassline.collector.sampling.testing import (
    count_rows,
    rollup_totals,
    run_replica,
    synthetic_traces,
)
from glassline.collector.storage.models import Span
from glassline.collector.storage.store import Store
from glassline.collector.storage.testing import DEFAULT_POSTGRES_URL, isolated_postgres_url

NOW = 1_800_000_100_000_000_000
SECOND = 1_000_000_000
REPLICAS = 3
CONFIG: dict[str, Any] = {
    "tail_enabled": True,
    "head_rate": 0.8,
    "decision_wait_s": 10,
    "policies": [{"type": "error"}, {"type": "probabilistic", "rate": 0.2}],
}


@pytest.mark.postgres
def test_replicas_on_one_postgres_make_one_decision_per_trace() -> None:
    traces = synthetic_traces(300, seed=21)
    # Span j of every trace goes to replica j: no replica ever sees a whole trace.
    shares = [[t[j] for t in traces] for j in range(REPLICAS)]
    work = [[share[i : i + 25] for i in range(0, len(share), 25)] for share in shares]
    with isolated_postgres_url(DEFAULT_POSTGRES_URL) as url:
        Store.open(url).close()  # migrate once, so the replicas start together
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(REPLICAS) as pool:
            reports = pool.starmap(
                run_replica,
                [(url, CONFIG, batches, NOW, NOW + 11 * SECOND) for batches in work],
            )
        store = Store.open(url)
        try:
            final = TailDecider(store, SamplingConfig.model_validate(CONFIG))
            final.run_once(NOW + 60 * SECOND)  # leftovers and stragglers
            with store.session() as session:
                per_trace = session.execute(
                    select(SamplingDecision.trace_id, func.count()).group_by(
                        SamplingDecision.trace_id
                    )
                ).all()
                decisions = {d.trace_id: d for d in session.scalars(select(SamplingDecision))}
                stored_traces = set(session.scalars(select(Span.trace_id).distinct()))
            assert len(per_trace) == len(traces)
            assert all(n == 1 for _, n in per_trace)
            assert count_rows(store.engine, SamplingPending) == 0
            kept = {tid for tid, d in decisions.items() if d.kept}
            assert stored_traces == kept
            tail_kept: Counter[str] = Counter(final.kept_by_policy)
            tail_dropped = final.dropped
            for report in reports:
                tail_kept.update(report["kept"])
                tail_dropped += report["dropped"]
            assert sum(tail_kept.values()) == len(kept)
            head_dropped = sum(d.policy == "head" for d in decisions.values())
            assert tail_dropped + head_dropped + len(kept) == len(traces)
            totals = rollup_totals(store.engine)
            assert totals["count"] == 3 * len(traces)
            expected_cost = sum(s.cost_usd or 0 for t in traces for s in t)
            assert totals["cost_usd"] == pytest.approx(expected_cost, rel=1e-9)
            assert count_rows(store.engine, Span) == 3 * len(kept)
        finally:
            store.close()
