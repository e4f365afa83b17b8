"""Synthetic LLM traffic for sampling tests and the sampling benchmark.

``synthetic_traces`` returns realistic-looking traces (a workflow root, retrieve and generate
stages, LLM calls with tokens and cost, some errors, retries, fallbacks and cache misses),
reproducible from a seed; ``rollup_totals`` reads back what the dashboard would show.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Engine, func, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage import sketch
from glassline.collector.storage.models import Base, DayRollup, HourRollup, Rollup, UserRollup
from glassline.collector.storage.rollup import COUNTERS
from glassline.semconv import attributes as attrs

__all__ = ["count_rows", "rollup_totals", "synthetic_traces"]

_MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku")
_MS = 1_000_000


_WORDS = ("the", "invoice", "policy", "refund", "customer", "order", "shipping", "account",
          "please", "summarize", "context", "document", "answer", "question", "date", "total")  # fmt: skip


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _trace(rng: random.Random, tenant: str, start_ns: int) -> list[SpanRecord]:
    trace_id = f"{rng.getrandbits(128):032x}"
    ids = iter(range(1, 100))

    def span(
        parent: int | None, name: str, offset_ms: float, ms: float, **kw: object
    ) -> SpanRecord:
        start = start_ns + int(offset_ms * _MS)
        return SpanRecord(
            tenant=tenant, trace_id=trace_id, span_id=f"{next(ids):016x}",
            parent_span_id=f"{parent:016x}" if parent else None, name=name,
            start_ns=start, end_ns=start + int(ms * _MS), **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    model = rng.choice(_MODELS)
    retrieve_ms = rng.lognormvariate(3.5, 0.6)
    generate_ms = rng.lognormvariate(6.5, 0.7)
    failed = rng.random() < 0.03
    user = f"user-{rng.randrange(50)}"
    root = span(None, "rag", 0, retrieve_ms + generate_ms + 5, kind="workflow", user_id=user,
                status="error" if failed else "ok")  # fmt: skip
    hit = rng.random() < 0.6
    retrieve = span(1, "retrieve", 1, retrieve_ms, kind="stage", stage="retrieve",
                    cache_layer="semantic", cache_hit=hit)  # fmt: skip
    tokens_in, tokens_out = rng.randrange(200, 4000), rng.randrange(20, 800)
    # Prompt and completion content, as instrumented apps send it (what storage is spent on).
    content = {
        attrs.GEN_AI_INPUT_MESSAGES: _text(rng, 120),
        attrs.GEN_AI_OUTPUT_MESSAGES: _text(rng, 60),
        attrs.GEN_AI_PROVIDER_NAME: "openai",
    }
    llm = span(1, "chat", 2 + retrieve_ms, generate_ms, kind="llm", stage="generate", model=model,
               input_tokens=tokens_in, output_tokens=tokens_out,
               cost_usd=round(tokens_in * 2.5e-6 + tokens_out * 1e-5, 8),
               retries=1 if rng.random() < 0.05 else 0, fallback=rng.random() < 0.02,
               route=model, ttft_ms=generate_ms * 0.2, status="error" if failed else "ok",
               attributes=content)  # fmt: skip
    return [root, retrieve, llm]


def synthetic_traces(
    n: int, *, seed: int = 0, start_ns: int = 1_800_000_000_000_000_000, tenants: int = 2
) -> list[list[SpanRecord]]:
    """``n`` traces of 3 spans, one every 10 ms of trace time, over ``tenants`` tenants."""
    rng = random.Random(seed)
    return [_trace(rng, f"tenant-{i % tenants}", start_ns + i * 10 * _MS) for i in range(n)]


def count_rows(engine: Engine, model: type[Base]) -> int:
    """Rows in ``model``'s table."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def rollup_totals(engine: Engine) -> dict[str, Any]:
    """What the dashboard reports from the rollups: sums, and latency p50/p95/p99 per kind.

    Also the hour/day rollups' sums and the user rollups' spend and requests, so every
    aggregate table the dashboard reads is compared.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(Rollup)).mappings().all()
        users = conn.execute(select(UserRollup)).mappings().all()
        coarse = {
            model.__tablename__: conn.execute(
                select(
                    func.sum(model.count), func.sum(model.cost_usd), func.sum(model.input_tokens)
                )
            ).one()
            for model in (HourRollup, DayRollup)
        }
    totals: dict[str, Any] = {name: sum(r[name] for r in rows) for name in COUNTERS}
    for table, (count, cost, tokens) in coarse.items():
        totals[table] = (count, round(cost or 0.0, 9), tokens)
    totals["cost_usd"] = round(totals["cost_usd"], 9)
    totals["duration_sum_ms"] = round(totals["duration_sum_ms"], 6)
    for kind in sorted({r["kind"] for r in rows}):
        merged = sketch.merge_encoded(r["latency_sketch"] for r in rows if r["kind"] == kind)
        totals[f"latency_{kind}"] = sketch.quantiles(merged)
    by_user: dict[tuple[str, str], list[float]] = {}
    for r in users:
        acc = by_user.setdefault((r["tenant"], r["user_id"]), [0, 0.0])
        acc[0] += r["requests"]
        acc[1] += r["cost_usd"]
    totals["users"] = {k: (v[0], round(v[1], 9)) for k, v in sorted(by_user.items())}
    return totals


def run_replica(
    url: str, config: dict[str, Any], batches: list[list[SpanRecord]], write_ns: int, decide_ns: int
) -> dict[str, Any]:
    """One collector replica, for multi-process tests: write each batch, run the decider after it.

    Returns what its decider reported (kept per policy, dropped) so a test can add them up.
    """
    from glassline.collector.sampling.config import SamplingConfig
    from glassline.collector.sampling.decider import TailDecider
    from glassline.collector.sampling.sink import SamplingSink
    from glassline.collector.storage.store import Store

    store = Store.open(url)
    try:
        parsed = SamplingConfig.model_validate(config)
        sink, decider = SamplingSink(store, parsed), TailDecider(store, parsed)
        for batch in batches:
            sink.write(batch, write_ns)
            decider.run_once(decide_ns)
        return {"kept": dict(decider.kept_by_policy), "dropped": decider.dropped}
    finally:
        store.close()
