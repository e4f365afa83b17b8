"""Spans for the redact step's golden outputs (see ``tests/redaction/golden.py``).

Three sources, each turned into the batches the redact step gets: the labelled corpus in every
placement the step scans (message JSON with the model field, exception and content events,
custom and OpenInference attributes, status message, span name, user field, resource), the
ingest bench's requests, and the peer libraries' recorded exports (decoded, normalized and
enriched as the collector does).
"""

from __future__ import annotations

import copy
import functools
import json
import random
from collections.abc import Callable
from typing import Any

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from glassline.collector.decode import decode_protobuf, decode_request
from glassline.collector.processors.enrich import EnrichProcessor
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.processors.redact import RedactProcessor
from glassline.collector.records import SpanEvent, SpanRecord
from tests.peers.record import RECORDED
from tests.redaction.corpus import generate_corpus, to_attributes
from tests.redaction.golden import frozen_faker_clock, span_rows

Batches = list[list[SpanRecord]]
_BATCH = 64  # spans per request of the corpus spans


def _corpus_batches() -> Batches:
    spans = []
    resource: dict[str, Any] = {}
    with frozen_faker_clock():
        corpus = generate_corpus(400, seed=99)
    for i, sample in enumerate(corpus):
        if i % 5 == 0:  # five spans share a resource, as one SDK's spans do
            resource = {"service.name": "corpus"}
        resource[f"app.sample.{i % 5}"] = sample.text
        model = sample.pii_values[0] if sample.pii_values else "gpt-4o-2024-08-06"
        attributes: dict[str, Any] = {
            **to_attributes(sample),
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 120,
            "app.customer_note": sample.text,
            "input.value": sample.text,
            "llm.input_messages.0.message.content": sample.text,
            "app.order_number": 4111111111111111 + i,
            "app.tags": [sample.text[:40], {"owner": sample.text[-40:]}],
        }
        events = [
            SpanEvent(
                "exception", 0, {"exception.type": "ValueError", "exception.message": sample.text}
            ),
            SpanEvent(sample.text[:30], 0, {"content": sample.text}),
        ]
        spans.append(
            SpanRecord(
                tenant="golden", trace_id=f"{i:032x}", span_id=f"{i:016x}",
                name=f"Dear {sample.text[:20]}", start_ns=0, end_ns=1, status="error",
                status_message=sample.text, service="corpus", scope="corpus",
                attributes=attributes, events=events, resource=resource, model=model,
                user_id=sample.pii_values[-1] if sample.pii_values else "user-42",
                session_id=f"s-{i}", stage=sample.kind,
            )
        )  # fmt: skip
    return [spans[i : i + _BATCH] for i in range(0, len(spans), _BATCH)]


def _bench_batches() -> Batches:
    from bench.ingest import make_batch

    rng = random.Random(11)
    return [_prepared(decode_protobuf(make_batch(rng), "bench", max_spans=10_000).records)
            for _ in range(3)]  # fmt: skip


def _peer_batches() -> Batches:
    batches = []
    for path in sorted(RECORDED.glob("*.json")):
        for body in json.loads(path.read_text(encoding="utf-8")):
            request = ParseDict(body, ExportTraceServiceRequest())
            batches.append(_prepared(decode_request(request, "acme", max_spans=10_000).records))
    return batches


def _prepared(records: list[SpanRecord]) -> list[SpanRecord]:
    return EnrichProcessor().process(NormalizeProcessor().process(records))


def _redacted(batches: Batches) -> list[Any]:
    step = RedactProcessor()  # one per case: its memo and cache carry over between batches
    out = []
    for batch in copy.deepcopy(batches):
        out.extend(span_rows(step.process(batch)))
    return out


def span_cases() -> dict[str, tuple[Callable[[], list[Any]], Callable[[], list[Any]]]]:
    """(spans before the redact step, spans after it) per source."""
    sources = {
        "spans, corpus placements": _corpus_batches,
        "spans, ingest bench": _bench_batches,
        "spans, peer exports": _peer_batches,
    }
    out = {}
    for name, build in sources.items():
        batches = functools.cache(build)
        out[name] = (
            functools.partial(lambda b: [r for batch in b() for r in span_rows(batch)], batches),
            functools.partial(lambda b: _redacted(b()), batches),
        )
    return out
