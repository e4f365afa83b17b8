"""Three collector replicas on ONE PostgreSQL schema behave as one collector.

The stock OTLP exporters (gRPC to two replicas, HTTP to the third) send the spans of each trace
split across the replicas, and some spans again to a second replica (a client retry landing
elsewhere). Tail sampling is on in every replica. Then, polling the database with a deadline:
no span is stored twice, the rollups count each span once, every trace has exactly one
sampling decision, and each background job's lease has one holder, one of the replicas.
The spans table is partitioned by day (``storage.partitioning``), as in production.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import create_engine, text

from glassline.collector.auth import generate_key
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.collector.testing import RunningCollector, run_collector
from glassline.instrumentation import attributes as A

TRACES = 24
CHILDREN = 3
DEADLINE_S = 40.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    with isolated_postgres_url() as url:
        yield url


def _make_spans() -> list[ReadableSpan]:
    """TRACES traces of a root and CHILDREN LLM calls; every fifth trace has an error."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "replicas"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("replicas")
    for t in range(TRACES):
        with tracer.start_as_current_span(f"workflow-{t}"):
            for c in range(CHILDREN):
                with tracer.start_as_current_span(f"llm-{t}-{c}") as span:
                    span.set_attributes(
                        {
                            A.GEN_AI_OPERATION_NAME: "chat",
                            A.GEN_AI_PROVIDER_NAME: "openai",
                            A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                            A.GEN_AI_USAGE_INPUT_TOKENS: 100 + t,
                            A.GEN_AI_USAGE_OUTPUT_TOKENS: 10 + c,
                            A.COST_USD: 0.001 * (c + 1),
                        }
                    )
                    if t % 5 == 0 and c == 1:
                        span.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def _exporters(replicas: list[RunningCollector], key: str) -> list:
    headers = {"authorization": f"Bearer {key}"}
    return [
        GrpcExporter(endpoint=replicas[0].grpc_endpoint, insecure=True, headers=headers),
        GrpcExporter(endpoint=replicas[1].grpc_endpoint, insecure=True, headers=headers),
        HttpExporter(endpoint=f"{replicas[2].http_endpoint}/v1/traces", headers=headers),
    ]


def _send_spread(spans: list[ReadableSpan], exporters: list) -> None:
    """Span i goes to replica i % 3; every fourth span also to the next replica."""
    batches: list[list[ReadableSpan]] = [[] for _ in exporters]
    for i, span in enumerate(spans):
        batches[i % 3].append(span)
        if i % 4 == 0:
            batches[(i + 1) % 3].append(span)
    for exporter, batch in zip(exporters, batches, strict=True):
        for start in range(0, len(batch), 10):
            assert exporter.export(batch[start : start + 10]) is SpanExportResult.SUCCESS
        exporter.shutdown()


def _scalar(conn, sql: str) -> int | float:
    return conn.execute(text(sql)).scalar_one() or 0


def _wait_for_decisions(engine, expected: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            decided = _scalar(conn, "SELECT count(*) FROM sampling_decisions")
            pending = _scalar(conn, "SELECT count(*) FROM sampling_pending")
        if decided >= expected and pending == 0:
            return
        time.sleep(0.2)  # polling other processes' database writes: no event to await
    raise AssertionError(f"{decided}/{expected} traces decided, {pending} pending")


def test_three_replicas_on_one_database_store_count_and_decide_each_trace_once(
    pg_url: str,
) -> None:
    key, admin = generate_key(), generate_key()
    config = {
        # The production layout: spans partitioned by day (the replicas share the partitions).
        "storage": {"url": pg_url, "partitioning": {"period": "day", "premake": 2}},
        "auth": {"tenants": {"acme": [key]}, "admin_keys": [admin]},
        "sampling": {
            "tail_enabled": True,
            "decision_wait_s": 1,
            "policies": [{"type": "error"}, {"type": "probabilistic", "rate": 0.5}],
        },
    }
    spans = _make_spans()
    with contextlib.ExitStack() as stack:
        # One after another: the first applies the migrations before the others start.
        replicas = [stack.enter_context(run_collector(config, tenants=())) for _ in range(3)]
        _send_spread(spans, _exporters(replicas, key))
        engine = create_engine(pg_url)
        stack.callback(engine.dispose)
        _wait_for_decisions(engine, TRACES)
        pids = {str(r.process.pid) for r in replicas}
        with engine.connect() as conn:
            _assert_state(conn, spans, pids)


def _assert_state(conn, spans: list[ReadableSpan], pids: set[str]) -> None:
    llm = [s for s in spans if s.attributes.get(A.COST_USD) is not None]
    assert _scalar(conn, "SELECT sum(count) FROM rollups") == len(spans)
    assert _scalar(conn, "SELECT sum(input_tokens) FROM rollups") == sum(
        s.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for s in llm
    )
    assert _scalar(conn, "SELECT sum(output_tokens) FROM rollups") == sum(
        s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in llm
    )
    assert _scalar(conn, "SELECT sum(cost_usd) FROM rollups") == pytest.approx(
        sum(s.attributes[A.COST_USD] for s in llm)
    )
    rows = conn.execute(text("SELECT trace_id, kept, policy FROM sampling_decisions")).all()
    assert len({r.trace_id for r in rows}) == len(rows) == TRACES
    kept = {r.trace_id for r in rows if r.kept}
    error_traces = {f"{s.context.trace_id:032x}" for s in spans if not s.status.is_ok}
    assert error_traces and error_traces <= kept
    stored = conn.execute(text("SELECT trace_id, span_id FROM spans")).all()
    assert len(stored) == len(set(stored)) == len(kept) * (CHILDREN + 1)
    assert {r.trace_id for r in stored} == kept
    leases = conn.execute(text("SELECT name, holder FROM leases")).all()
    names = [r.name for r in leases]
    assert len(names) == len(set(names)) and any("sampling" in n or "tail" in n for n in names)
    for lease in leases:
        assert lease.holder.split(":")[1] in pids, lease
