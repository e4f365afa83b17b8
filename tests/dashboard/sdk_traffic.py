"""A store seeded by the real SDK: the example RAG app against the fake provider, exported as
OTLP protobuf and ingested through the collector's decode, normalize, enrich and store steps.

Retries after 429s, fallbacks after 503s, semantic-cache hits and dated model snapshots all
come out of the real instrumentation, so the dashboard's figures can be checked against the
raw spans of the same store.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from examples.fake_provider import FakeOpenAI, ProviderBehaviour
from examples.rag_app import run
from glassline.collector.decode import decode_request
from glassline.collector.processors.enrich import EnrichProcessor
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.instrumentation.testing import capture_spans

TENANTS = {"acme": 40, "globex": 25}


def sdk_records() -> list[SpanRecord]:
    """Spans of every tenant's requests, as the collector would store them."""
    records: list[SpanRecord] = []
    behaviour = ProviderBehaviour(rate_limit_share=0.15, outages={"gpt-4o-mini": 0.25}, seed=3)
    with FakeOpenAI(behaviour) as provider:
        for seed, (tenant, requests) in enumerate(TENANTS.items(), start=1):
            with capture_spans() as captured:
                run(requests, provider.base_url, seed)
            request = encode_spans(list(captured))
            decoded = decode_request(request, tenant, max_spans=100_000).records
            records += EnrichProcessor().process(NormalizeProcessor().process(decoded))
    return records


def seed_sdk_store(url: str) -> list[SpanRecord]:
    records = sdk_records()
    store = Store.open(url)
    try:
        store.write(records)
    finally:
        store.engine.dispose()
    return records
