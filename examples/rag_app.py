"""A realistic RAG pipeline, instrumented with Glassline, sending traffic to a collector.

    workflow "answer_question"
      stage "retrieve"   (semantic cache lookup, vector search tool)
      stage "rerank"     (with --context-docs above 4: stage "expand_context", whole sections)
      stage "generate"   (routed model choice, retries after 429, fallback to a second model)

Run it against a collector (one process per tenant: the tenant comes from the API key):

    GLASSLINE_API_KEY=demo-acme-key python -m examples.rag_app --requests 100 \\
        --provider-url http://127.0.0.1:8900/v1

Without ``--provider-url`` it starts its own fake OpenAI-compatible provider.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import time
from collections.abc import Sequence

import openai

from examples.fake_provider import FakeOpenAI, ProviderBehaviour
from glassline.instrumentation import (
    context,
    init,
    llm,
    record_cache,
    record_response,
    record_route,
    retry,
    shutdown,
    stage,
    tool,
    workflow,
)

QUESTIONS = [
    "How do I rotate the API keys for the billing service?",
    "What is our refund policy for annual plans?",
    "Summarise the incident report from last Tuesday's outage.",
    "Which regions support data residency in the EU?",
    "How do I configure SSO with Okta?",
    "What changed in the 2.3 release of the ingestion pipeline?",
    "Explain the difference between the Pro and Team plans.",
    "How long do we keep audit logs?",
]
PRIMARY, FALLBACK = "gpt-4o-mini", "gpt-4o"


class RagApp:
    """The pipeline; one instance per process, sharing one OpenAI client."""

    def __init__(self, client: openai.OpenAI, rng: random.Random, *, context_docs: int = 4) -> None:
        self.client = client
        self.rng = rng
        self.context_docs = context_docs  # documents put into the prompt after reranking
        self.semantic_cache: dict[str, str] = {}
        # The prompt template is versioned with the app: whole sections in the context (the
        # 1.5.0 change) are a new version of it, a dimension the dashboard splits spend by.
        version = "v2-sections" if context_docs > 4 else "v1"
        self.generate = stage("generate", prompt=("answer-with-docs", version))(self._generate)

    @workflow("answer_question")
    def answer(self, question: str) -> str:
        cached = self.cache_lookup(question)
        if cached is not None:
            return cached
        documents = self.retrieve(question)
        ranked = self.rerank(question, documents)
        answer = self.generate(question, ranked)
        self.semantic_cache[_key(question)] = answer
        return answer

    def cache_lookup(self, question: str) -> str | None:
        hit = self.semantic_cache.get(_key(question))
        # A semantic cache only answers some repeats: the rest are near misses.
        if hit is not None and self.rng.random() < 0.6:
            record_cache(layer="semantic", hit=True, key_hash=_key(question), similarity=0.97)
            return hit
        record_cache(layer="semantic", hit=False, key_hash=_key(question))
        return None

    @stage("retrieve")
    def retrieve(self, question: str) -> list[str]:
        return self.vector_search(question, top_k=8)

    @tool("vector_search")
    def vector_search(self, query: str, top_k: int) -> list[str]:
        time.sleep(self.rng.uniform(0.004, 0.02))
        if self.rng.random() < 0.01:
            raise TimeoutError("vector index did not answer within 2s")
        return [f"doc-{self.rng.randrange(10_000)}: notes about {query[:40]}" for _ in range(top_k)]

    @stage("rerank")
    def rerank(self, question: str, documents: Sequence[str]) -> list[str]:
        time.sleep(self.rng.uniform(0.002, 0.01))
        ranked = sorted(documents, key=lambda d: hash((question, d)))[:4]
        if self.context_docs > len(ranked):
            return self.expand_context(ranked)
        return ranked[: self.context_docs]

    @stage("expand_context")
    def expand_context(self, documents: list[str]) -> list[str]:
        """Whole sections around each document (the 1.5.0 prompt change: far more tokens)."""
        per_doc = -(-self.context_docs // len(documents))
        sections = [f"{d} (section part {i})" for d in documents for i in range(per_doc)]
        return sections[: self.context_docs]

    def _generate(self, question: str, documents: Sequence[str]) -> str:
        messages = [
            {"role": "system", "content": "Answer from the documents. Cite them."},
            {"role": "user", "content": question + "\n\n" + "\n".join(documents)},
        ]
        try:
            record_route(chosen=PRIMARY, candidates=[PRIMARY, FALLBACK], reason="cheapest")
            return self.chat(model=PRIMARY, messages=messages)
        except openai.APIStatusError as exc:
            record_route(
                chosen=FALLBACK,
                candidates=[PRIMARY, FALLBACK],
                reason=f"primary failed: {exc.status_code}",
                fallback_from=PRIMARY,
            )
            return self.chat(model=FALLBACK, messages=messages)

    @retry(max_attempts=3, base_delay=0.02, max_delay=0.2, retry_on=(openai.RateLimitError,))
    @llm(provider="openai")
    def chat(self, *, model: str, messages: list[dict[str, str]]) -> str:
        response = self.client.chat.completions.create(model=model, messages=messages)
        record_response(response)  # tokens, response model, finish reasons and cost on the span
        return response.choices[0].message.content or ""


def _key(question: str) -> str:
    return hashlib.sha256(question.lower().encode()).hexdigest()[:16]


def run(
    requests: int,
    provider_url: str,
    seed: int,
    tenant_hint: str | None = None,
    *,
    rate: float | None = None,
    context_docs: int = 4,
) -> dict[str, int]:
    """Send ``requests`` traces (0: until interrupted), ``rate`` per second if given.

    Users come back in sessions of a few turns each. Returns counts by outcome.
    """
    rng = random.Random(seed)
    client = openai.OpenAI(base_url=provider_url, api_key="not-needed", max_retries=0)
    app = RagApp(client, rng, context_docs=context_docs)
    users = [f"user-{seed}-{i:02d}" for i in range(12)]
    sessions = {user: (0, 0) for user in users}  # user -> (session number, turns left)
    outcome = {"ok": 0, "error": 0}
    i = 0
    while requests == 0 or i < requests:
        user = rng.choice(users)
        number, left = sessions[user]
        if left == 0:
            number, left = number + 1, rng.randint(1, 5)
        sessions[user] = (number, left - 1)
        with context(tenant=tenant_hint, user=user, session=f"{user}-s{number}"):
            try:
                app.answer(rng.choice(QUESTIONS))
                outcome["ok"] += 1
            except Exception:  # the demo keeps going; the span records the error
                outcome["error"] += 1
        i += 1
        if rate:
            time.sleep(rng.expovariate(rate))
    return outcome


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="traces to send (default 100; 0: until stopped)"
    )
    parser.add_argument("--rate", type=float, help="requests per second (default: back to back)")
    parser.add_argument(
        "--context-docs", type=int, default=4, help="documents in the generate prompt (default 4)"
    )
    parser.add_argument(
        "--provider-url", help="OpenAI-compatible base URL (default: start a fake one)"
    )
    parser.add_argument(
        "--endpoint", help="collector OTLP endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT)"
    )
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--service-name", default="rag-demo")
    args = parser.parse_args(argv)
    # SIGINT or SIGTERM stop a continuous run between requests, and its spans are flushed;
    # explicit because a process started in the background inherits SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)

    init(service_name=args.service_name, endpoint=args.endpoint, protocol=args.protocol)
    provider = None
    url = args.provider_url
    if url is None:
        provider = FakeOpenAI(
            ProviderBehaviour(rate_limit_share=0.08, outages={PRIMARY: 0.05})
        ).start()
        url = provider.base_url
    try:
        outcome = run(args.requests, url, args.seed, rate=args.rate, context_docs=args.context_docs)
        print(
            f"sent {sum(outcome.values())} traces: {outcome['ok']} answered, {outcome['error']} failed"
        )
    except KeyboardInterrupt:  # the demo stops a continuous run this way
        pass
    finally:
        shutdown()
        if provider is not None:
            provider.stop()


if __name__ == "__main__":
    main()
