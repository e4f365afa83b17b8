"""Fill a store with realistic LLM traffic through ``Store.write`` (so the rollups are real).

    .venv/bin/python -m bench.fill_store --url sqlite:///.glassline/bench.db          # 1M spans
    .venv/bin/python -m bench.fill_store --url sqlite:///.glassline/bench.db --spans 50000
    .venv/bin/python -m bench.fill_store --url postgresql+psycopg://postgres@127.0.0.1/test \\
        --schema glassline_bench --spans 200000

About 11 spans per trace (workflow -> retrieve -> rerank -> generate -> guardrail, with
tools, cache hits, retries, fallbacks and errors), 3 tenants with two API keys each, ~600
users, 5 models, a service version every 5 days and a prompt version every 10, spread
over ``--days`` (30) ending now, written oldest first in 512-span batches; deterministic
for a ``--seed``. Prints progress
and the write throughput (spans/s stored, including trace summaries and rollups).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from glassline.collector.records import SpanRecord
from glassline.collector.storage import StorageConfig, Store
from glassline.semconv import attributes as attrs

MS = 1_000_000
DAY_NS = 86_400 * 1_000_000_000
TENANTS = [("acme", 0.6, 400), ("globex", 0.3, 150), ("initech", 0.1, 40)]  # share, users
# model: (input $/Mtok, output $/Mtok, typical latency ms)
MODELS = {
    "gpt-4o": (2.5, 10.0, 1400),
    "gpt-4o-mini": (0.15, 0.6, 700),
    "claude-3-5-sonnet": (3.0, 15.0, 1600),
    "claude-3-5-haiku": (0.8, 4.0, 800),
}
ROUTES = {"quality": ["gpt-4o", "claude-3-5-sonnet"], "cheap": ["gpt-4o-mini", "claude-3-5-haiku"]}
PROMPT = (
    "You are a support assistant. Answer using only the context below. Context: the refund "
    "policy allows returns within 30 days of delivery for unused items in original packaging; "
)
ANSWER = "According to the policy, you can return the item within 30 days of delivery. "
# User questions vary, so a search has common words (refund), rarer ones (a topic) and
# needles (an order number, about one trace in a million has a given one).
TOPICS = [
    "refund for a damaged blender", "invoice address change", "password reset link expired",
    "shipping delay to Lisbon", "warranty claim for headphones", "cancel my subscription",
    "gift card balance", "wrong size sneakers", "missing parcel tracking", "loyalty points",
    "student discount code", "bulk order pricing", "charger stopped working", "duplicate charge",
    "change delivery slot", "return label printer", "refund to a closed card", "allergen list",
    "assembly instructions wardrobe", "firmware update failed",
]  # fmt: skip


class TraceMaker:
    """Builds traces at given start times; deterministic for a seed."""

    def __init__(self, seed: int = 7, versions: bool = True) -> None:
        self.rng = random.Random(seed)
        self.number = 0
        self.versions = versions  # off: the same traffic without versions or key names

    def _ids(self) -> tuple[str, Iterator[str]]:
        self.number += 1
        trace_id = f"{self.rng.getrandbits(128):032x}"
        base = self.rng.getrandbits(56) << 8
        return trace_id, (f"{base + i:016x}" for i in range(1, 64))

    def trace(self, start_ns: int) -> list[SpanRecord]:
        rng = self.rng
        name, _, users = rng.choices(TENANTS, weights=[t[1] for t in TENANTS])[0]
        user = f"user-{int(rng.paretovariate(1.2)) % users}"
        trace_id, ids = self._ids()
        common: dict[str, Any] = {"tenant": name, "trace_id": trace_id, "service": "support-bot"}
        root_id = next(ids)
        spans: list[SpanRecord] = []
        clock = start_ns + int(rng.uniform(1, 5) * MS)
        for stage, body in (
            ("retrieve", self._retrieve),
            ("rerank", self._rerank),
            ("generate", self._generate),
            ("guardrail", self._guardrail),
        ):
            clock = self._stage(spans, common, root_id, ids, stage, clock, body)
        clock = self._span(
            spans,
            common,
            root_id,
            ids,
            "format_answer",
            "tool",
            "postprocess",
            clock,
            rng.uniform(1, 4),
        )
        self._versions([*spans], start_ns)
        failed = any(s.is_error for s in spans) and rng.random() < 0.7
        root = SpanRecord(
            span_id=root_id,
            name="answer_question",
            start_ns=start_ns,
            end_ns=clock + 2 * MS,
            kind="workflow",
            user_id=user,
            session_id=f"{user}-s{self.number % 5}",
            status="error" if failed else "ok",
            **common,
        )
        self._versions([root], start_ns, key=spans[0].api_key if spans else None)
        return [root, *spans]

    def _versions(self, spans: list[SpanRecord], start_ns: int, key: str | None = None) -> None:
        """A deployment every 5 days (service.version), a new prompt version of the generate
        stage every 10 days, and two API keys per tenant (a web app and a batch job)."""
        day = start_ns // DAY_NS
        version = f"1.{day // 5 % 100}.0"
        key = key or ("batch" if self.rng.random() < 0.2 else "web")  # drawn either way
        if not self.versions:
            return
        for span in spans:
            span.service_version, span.api_key = version, key
            span.resource = {attrs.SERVICE_VERSION: version}
            span.attributes[attrs.API_KEY_NAME] = key
            if span.stage == "generate":
                span.prompt_name, span.prompt_version = "support-answer", f"v{day // 10 % 100}"
                span.attributes[attrs.PROMPT_NAME] = span.prompt_name
                span.attributes[attrs.PROMPT_VERSION] = span.prompt_version

    def _stage(
        self,
        spans: list[SpanRecord],
        common: dict[str, Any],
        root: str,
        ids: Any,
        stage: str,
        clock: int,
        body: Any,
    ) -> int:
        """A stage span around the spans ``body`` adds (parented to it), before them."""
        stage_id, index = next(ids), len(spans)
        end = body(spans, common, stage_id, ids, clock + MS // 2) + MS // 2
        spans.insert(
            index,
            SpanRecord(
                span_id=stage_id,
                parent_span_id=root,
                name=stage,
                start_ns=clock,
                end_ns=end,
                kind="stage",
                stage=stage,
                **common,
            ),
        )
        return end + MS

    def _span(
        self,
        spans: list[SpanRecord],
        common: dict[str, Any],
        parent: str,
        ids: Any,
        name: str,
        kind: str,
        stage: str,
        start: int,
        ms: float,
        **fields: Any,
    ) -> int:
        end = start + int(ms * MS)
        spans.append(
            SpanRecord(
                span_id=next(ids),
                parent_span_id=parent,
                name=name,
                start_ns=start,
                end_ns=end,
                kind=kind,
                stage=stage,
                **common,
                **fields,
            )
        )
        return end

    def _retrieve(
        self, spans: list[SpanRecord], common: dict[str, Any], parent: str, ids: Any, clock: int
    ) -> int:
        hit = self.rng.random() < 0.4
        if not hit:
            clock = self._llm(
                spans,
                common,
                parent,
                ids,
                "embed",
                "text-embedding-3-small",
                clock,
                stage="retrieve",
                latency_ms=40,
                embeddings=True,
            )
        return self._span(
            spans,
            common,
            parent,
            ids,
            "vector_search",
            "tool",
            "retrieve",
            clock,
            self.rng.lognormvariate(math.log(35), 0.5),
            cache_layer="embedding",
            cache_hit=hit,
        )

    def _rerank(
        self, spans: list[SpanRecord], common: dict[str, Any], parent: str, ids: Any, clock: int
    ) -> int:
        return self._span(
            spans,
            common,
            parent,
            ids,
            "cohere_rerank",
            "tool",
            "rerank",
            clock,
            self.rng.lognormvariate(math.log(60), 0.4),
        )

    def _guardrail(
        self, spans: list[SpanRecord], common: dict[str, Any], parent: str, ids: Any, clock: int
    ) -> int:
        return self._llm(
            spans,
            common,
            parent,
            ids,
            "moderate",
            "gpt-4o-mini",
            clock,
            stage="guardrail",
            latency_ms=self.rng.uniform(80, 200),
        )

    def _generate(
        self, spans: list[SpanRecord], common: dict[str, Any], parent: str, ids: Any, clock: int
    ) -> int:
        rng = self.rng
        route = "quality" if rng.random() < 0.35 else "cheap"
        model = ROUTES[route][0]
        if rng.random() < 0.3:
            clock = self._span(
                spans,
                common,
                parent,
                ids,
                "web_search",
                "tool",
                "generate",
                clock,
                rng.lognormvariate(math.log(400), 0.5),
            )
        retries = 1 if rng.random() < 0.06 else 0
        fallback = rng.random() < 0.03
        if fallback:
            model = ROUTES[route][1]
        return self._llm(
            spans,
            common,
            parent,
            ids,
            f"chat {model}",
            model,
            clock,
            stage="generate",
            route=route,
            retries=retries,
            fallback=fallback,
            error=rng.random() < 0.02,
        )

    def _llm(
        self,
        spans: list[SpanRecord],
        common: dict[str, Any],
        parent: str,
        ids: Any,
        name: str,
        model: str,
        start: int,
        *,
        stage: str,
        latency_ms: float | None = None,
        embeddings: bool = False,
        route: str | None = None,
        retries: int = 0,
        fallback: bool = False,
        error: bool = False,
    ) -> int:
        rng = self.rng
        price_in, price_out, typical = MODELS.get(model, (0.02, 0.0, 40))
        ms = latency_ms or rng.lognormvariate(math.log(typical), 0.45) * (1 + retries)
        tokens_in = int(rng.lognormvariate(math.log(40 if embeddings else 1800), 0.5))
        tokens_out = 0 if embeddings else int(rng.lognormvariate(math.log(250), 0.6))
        cached = int(tokens_in * 0.5) if not embeddings and rng.random() < 0.3 else 0
        cost = (
            (tokens_in - cached) * price_in + cached * price_in / 10 + tokens_out * price_out
        ) / 1e6
        attributes: dict[str, Any] = {"gen_ai.request.model": model}
        if not embeddings:
            question = f"{rng.choice(TOPICS)}, order ORD-{rng.randrange(10**6):06d}"
            attributes["gen_ai.input.messages"] = _messages(
                ("system", PROMPT * 3), ("user", question)
            )
            attributes["gen_ai.output.messages"] = _messages(("assistant", ANSWER * 3))
        return self._span(
            spans,
            common,
            parent,
            ids,
            name,
            "llm",
            stage,
            start,
            ms,
            model=model,
            provider="openai" if model.startswith("gpt") else "anthropic",
            operation="embeddings" if embeddings else "chat",
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cached,
            cost_usd=round(cost, 8),
            ttft_ms=None if embeddings else ms * rng.uniform(0.15, 0.35),
            route=route,
            retries=retries,
            fallback=fallback,
            status="error" if error else "ok",
            status_message="rate limited (429)" if error else None,
            attributes=attributes,
        )


def _messages(*messages: tuple[str, str]) -> str:
    """Messages in the GenAI conventions' JSON shape, as the SDK records them."""
    return json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in messages])


def traces_for(spans: int, seed: int) -> int:
    """How many traces ``TraceMaker(seed)`` needs to reach ``spans`` spans.

    A trace's shape does not depend on its start time, so a probe maker with the same seed
    yields the same sizes in the same order (~11 spans a trace, varying with tools, cache
    misses and web searches). Counting exactly (a few seconds per million spans, small next
    to the writes) makes the last trace start land at the end of the window: with a guessed
    average, the fill either stops days early or runs out of starts short of ``spans``.
    """
    probe = TraceMaker(seed)
    count = total = 0
    while total < spans:
        total += len(probe.trace(0))
        count += 1
    return count


def trace_starts(count: int, days: float, end_ns: int, seed: int = 11) -> list[int]:
    """``count`` start times over ``days`` before ``end_ns``, busier in working hours."""
    rng = random.Random(seed)
    span = int(days * DAY_NS)
    starts: list[int] = []
    while len(starts) < count:
        t = end_ns - rng.randrange(span)
        hour = (t // 3_600_000_000_000) % 24
        if rng.random() < 0.35 + 0.65 * math.sin(math.pi * ((hour - 6) % 24) / 24) ** 2:
            starts.append(t)
    return sorted(starts)


def schema_url(url: str, schema: str | None) -> str:
    """``url`` with its connections in PostgreSQL ``schema`` (created if missing)."""
    if not schema:
        return url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def fill(
    url: str,
    spans: int,
    days: float,
    batch_size: int = 512,
    seed: int = 7,
    versions: bool = True,
) -> dict[str, float]:
    """Write ``spans`` spans into the store at ``url``; returns what was written and how fast."""
    # Retention must cover the whole fill, or purge would delete what we just wrote.
    store = Store.open(StorageConfig(url=url, retention_days=max(7, days + 1)))
    maker = TraceMaker(seed, versions)
    starts = trace_starts(traces_for(spans, seed), days, time.time_ns(), seed=seed)
    written = traces = 0
    pending: list[SpanRecord] = []
    began = last = time.perf_counter()
    write_s = 0.0
    for start in starts:
        if written + len(pending) >= spans:
            break
        pending += maker.trace(start)
        traces += 1
        while len(pending) >= batch_size or (pending and written + len(pending) >= spans):
            batch, pending = pending[:batch_size], pending[batch_size:]
            t = time.perf_counter()
            written += store.write(batch).inserted
            write_s += time.perf_counter() - t
            if time.perf_counter() - last > 5:
                last = time.perf_counter()
                print(f"  {written:>9,} spans  {written / write_s:>7,.0f} spans/s", flush=True)
    if store.dialect == "postgresql":
        # Fresh statistics, as autovacuum would gather soon after a load like this (the test
        # server runs with autovacuum off); without them the planner sorts instead of
        # walking the (tenant, start_ns) index.
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    store.close()
    return {
        "spans": written,
        "traces": traces,
        "seconds": time.perf_counter() - began,
        "write_spans_per_s": written / write_s if write_s else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", default="sqlite:///.glassline/bench.db", help="store URL")
    parser.add_argument("--schema", help="PostgreSQL schema to fill (created if missing)")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to write")
    parser.add_argument("--days", type=float, default=30, help="days of traffic, ending now")
    parser.add_argument("--batch", type=int, default=512, help="spans per Store.write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-versions",
        action="store_true",
        help="the same traffic without service/prompt versions and key names (a baseline)",
    )
    args = parser.parse_args(argv)
    url = schema_url(args.url, args.schema)
    print(f"filling {make_url(url).render_as_string()} with {args.spans:,} spans", flush=True)
    result = fill(url, args.spans, args.days, args.batch, args.seed, not args.no_versions)
    print(
        f"done: {result['spans']:,.0f} spans, {result['traces']:,.0f} traces in "
        f"{result['seconds']:.1f} s; Store.write {result['write_spans_per_s']:,.0f} spans/s "
        f"(batches of {args.batch})"
    )


if __name__ == "__main__":
    sys.exit(main())
