"""Realistic seeded traffic for the dashboard tests, written through the collector's store."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from glassline.collector.records import SpanEvent, SpanRecord
from glassline.semconv import attributes as attrs

NS = 1_000_000_000
MS = 1_000_000


@dataclass
class Traffic:
    """The seeded spans and the figures a page should show for them."""

    records: list[SpanRecord] = field(default_factory=list)
    error_trace_id: str = ""
    chat_trace_id: str = ""

    def cost(self, tenant: str | None = None) -> float:
        return sum(r.cost_usd or 0.0 for r in self.records if tenant in (None, r.tenant))

    def roots(self, tenant: str | None = None) -> list[SpanRecord]:
        return [r for r in self.records if r.is_root and tenant in (None, r.tenant)]


def _ids(rng: random.Random) -> tuple[str, str]:
    return f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"


def _span_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _messages(question: str, answer: str) -> tuple[str, str]:
    inp = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
    out = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": answer}],
            "finish_reason": "stop",
        }
    ]
    return json.dumps(inp), json.dumps(out)


def rag_trace(
    rng: random.Random,
    tenant: str,
    start_ns: int,
    *,
    model: str = "gpt-4o",
    user: str = "user-1",
    fail: bool = False,
    fallback: bool = False,
) -> list[SpanRecord]:
    """One request: workflow -> retrieval (tool) -> generate (llm), optionally failing."""
    trace_id, root_id = _ids(rng)
    t = start_ns
    retrieval_ms, llm_ms = rng.randint(20, 80), rng.randint(300, 1500)
    total_ms = retrieval_ms + llm_ms + 10
    common = {
        "tenant": tenant,
        "trace_id": trace_id,
        "service": "rag-app",
        "user_id": user,
        "session_id": f"session-{user}",
    }
    root = SpanRecord(
        span_id=root_id,
        name="rag_pipeline",
        start_ns=t,
        end_ns=t + total_ms * MS,
        kind="workflow",
        status="error" if fail else "ok",
        **common,
        attributes={attrs.SPAN_KIND: "workflow", attrs.USER_ID: user},
    )
    ret_id, stage_id, llm_id = _span_id(rng), _span_id(rng), _span_id(rng)
    retrieval = SpanRecord(
        span_id=ret_id,
        parent_span_id=root_id,
        name="retrieve_documents",
        kind="stage",
        stage="retrieval",
        start_ns=t + 2 * MS,
        end_ns=t + (2 + retrieval_ms) * MS,
        status="ok",
        cache_layer="embedding",
        cache_hit=rng.random() < 0.5,
        **common,
    )
    gen = SpanRecord(
        span_id=stage_id,
        parent_span_id=root_id,
        name="generate",
        kind="stage",
        stage="generate",
        start_ns=t + (5 + retrieval_ms) * MS,
        end_ns=t + (5 + retrieval_ms + llm_ms) * MS,
        status="error" if fail else "ok",
        **common,
    )
    question, answer = "What is our refund policy?", "Refunds are accepted within 30 days."
    inp, out = _messages(question, answer)
    in_tok, out_tok, cached = rng.randint(800, 1200), rng.randint(50, 200), 512
    llm = SpanRecord(
        span_id=llm_id,
        parent_span_id=stage_id,
        name=f"chat {model}",
        kind="llm",
        stage="generate",
        operation="chat",
        provider="openai",
        model=model,
        start_ns=gen.start_ns + MS,
        end_ns=gen.end_ns - MS,
        status="error" if fail else "ok",
        input_tokens=in_tok,
        output_tokens=out_tok,
        cache_read_tokens=cached,
        cost_usd=round(in_tok * 2.5e-6 + out_tok * 1e-5, 6),
        ttft_ms=rng.uniform(80, 300),
        route="fallback:" + model if fallback else "primary",
        fallback=fallback,
        attributes={
            attrs.GEN_AI_INPUT_MESSAGES: inp,
            attrs.GEN_AI_OUTPUT_MESSAGES: out,
            attrs.GEN_AI_REQUEST_MODEL: model,
            attrs.REDACTION_ENTITIES: {"EMAIL_ADDRESS": 1},
        },
        **common,
    )
    if fail:
        llm.status_message = "RateLimitError: quota exceeded"
        llm.events.append(
            SpanEvent(
                name="exception",
                time_ns=llm.end_ns,
                attributes={
                    "exception.type": "RateLimitError",
                    "exception.message": "quota exceeded for model " + model,
                    "exception.stacktrace": "Traceback (most recent call last):\n  ...",
                },
            )
        )
    return [root, retrieval, gen, llm]


def build_traffic(now_s: int, seed: int = 7) -> Traffic:
    """About 30 requests over the last hour for two tenants, one failing, one fallback."""
    rng = random.Random(seed)
    traffic = Traffic()
    for i in range(30):
        tenant = "acme" if i % 3 else "globex"
        model = "gpt-4o" if tenant == "acme" else "gpt-4o-mini"
        start = (now_s - 3000 + i * 90) * NS
        spans = rag_trace(
            rng,
            tenant,
            start,
            model=model,
            user=f"user-{i % 4}",
            fail=(i == 10),
            fallback=(i == 20),
        )
        if i == 10:
            traffic.error_trace_id = spans[0].trace_id
        if i == 4:
            traffic.chat_trace_id = spans[0].trace_id
        traffic.records.extend(spans)
    return traffic
