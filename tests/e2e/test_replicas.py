"""Three collector replicas on ONE PostgreSQL schema behave as one collector.

Three collector processes share one database, with the spans table partitioned by day
(``storage.partitioning``), as in production. Every replica has tail sampling on and loads the
same alert rule file: a budget rule evaluated every second, notifying a webhook on loopback.

The stock OTLP exporters (gRPC to two replicas, HTTP to the third) send the spans of each trace
split across the replicas, and some spans again to a second replica (a client retry landing
elsewhere). Their spend breaches the budget only once the spans of all three replicas are
counted. Then, polling the database against a deadline:

- no span is stored twice, the rollups count each span once (exact totals), and every trace
  has exactly one sampling decision, all error traces kept;
- each background job's lease (tail sampling, alerts, ...) has one holder, one of the replicas;
- each evaluated alert interval has one claim row (``alert_evaluations``), made by one of the
  replicas; the rule moved inactive -> pending -> firing once; and after several more intervals
  the webhook has received exactly one notification, not one per replica.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
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
from glassline.semconv import attributes as A

TRACES = 24
CHILDREN = 3
# The workload spends $0.144; any two replicas' share of it is $0.104 (checked by the test).
BUDGET_USD = 0.12
MORE_INTERVALS = 4  # alert intervals evaluated after the firing, with no second notification
DEADLINE_S = 60.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    with isolated_postgres_url() as url:
        yield url


class Webhook:
    """A loopback webhook receiver: ``url``, and every JSON body it got in ``bodies``."""

    def __init__(self, url: str, bodies: list[dict[str, Any]]) -> None:
        self.url, self.bodies = url, bodies


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", bodies)
    finally:
        server.shutdown()
        server.server_close()


def _write_rules(directory: Path, webhook_url: str) -> Path:
    """One budget rule over the last hour, evaluated every second, notifying the webhook."""
    rules = directory / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "evaluation_interval": "1s",
                "notifiers": [{"name": "hook", "type": "webhook", "url": webhook_url}],
                "rules": [
                    {"name": "spend", "kind": "budget", "window": "1h", "limit_usd": BUDGET_USD}
                ],
            }
        )
    )
    return rules


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


def _spread(spans: list[ReadableSpan]) -> list[list[ReadableSpan]]:
    """Per replica: span i goes to replica i % 3; every fourth span also to the next replica."""
    batches: list[list[ReadableSpan]] = [[], [], []]
    for i, span in enumerate(spans):
        batches[i % 3].append(span)
        if i % 4 == 0:
            batches[(i + 1) % 3].append(span)
    return batches


def _cost(spans: Iterable[ReadableSpan]) -> float:
    """The spend of distinct spans (a span sent twice is counted once, as the rollups must)."""
    unique = {span.context.span_id: span for span in spans}
    return sum(span.attributes.get(A.COST_USD, 0.0) for span in unique.values())


def _assert_budget_needs_every_replica(batches: list[list[ReadableSpan]]) -> None:
    """Precondition: only the spend received by all three replicas together breaches the budget."""
    assert _cost(itertools.chain(*batches)) > BUDGET_USD
    for one, other in itertools.combinations(batches, 2):
        assert _cost(one + other) < BUDGET_USD


def _exporters(replicas: list[RunningCollector], key: str) -> list:
    headers = {"authorization": f"Bearer {key}"}
    return [
        GrpcExporter(endpoint=replicas[0].grpc_endpoint, insecure=True, headers=headers),
        GrpcExporter(endpoint=replicas[1].grpc_endpoint, insecure=True, headers=headers),
        HttpExporter(endpoint=f"{replicas[2].http_endpoint}/v1/traces", headers=headers),
    ]


def _send(batches: list[list[ReadableSpan]], exporters: list) -> None:
    for exporter, batch in zip(exporters, batches, strict=True):
        for start in range(0, len(batch), 10):
            assert exporter.export(batch[start : start + 10]) is SpanExportResult.SUCCESS
        exporter.shutdown()


def _scalar(conn, sql: str) -> int | float:
    return conn.execute(text(sql)).scalar_one() or 0


def _poll(check: Callable[[], Any], what: str, done: Callable[[Any], bool] = bool) -> Any:
    """``check()`` until ``done`` with its result, against DEADLINE_S; returns the result."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = check()
        if done(found):
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not in time: {what} (last: {found!r})")
        time.sleep(0.2)  # polling other processes' database writes: no event to await


def _sampling_counts(engine) -> tuple[int, int]:
    """(traces decided, spans still pending a decision)."""
    with engine.connect() as conn:
        return (
            _scalar(conn, "SELECT count(*) FROM sampling_decisions"),
            _scalar(conn, "SELECT count(*) FROM sampling_pending"),
        )


def _fired_at(engine) -> int | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT fired_at FROM alert_states WHERE rule = 'spend'")).scalar()


def _claims(engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM alert_evaluations ORDER BY slot")).all()


def _alert_events(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT from_state, to_state FROM alert_events ORDER BY id"))
        return [tuple(row) for row in rows]


def test_three_replicas_on_one_database_act_as_one_collector(
    pg_url: str, webhook: Webhook, tmp_path: Path
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
        "alerts": {"rules_file": str(_write_rules(tmp_path, webhook.url))},
    }
    spans = _make_spans()
    batches = _spread(spans)
    _assert_budget_needs_every_replica(batches)
    engine = create_engine(pg_url)
    with contextlib.ExitStack() as stack:
        stack.callback(engine.dispose)
        # One after another: the first applies the migrations before the others start.
        replicas = [stack.enter_context(run_collector(config, tenants=())) for _ in range(3)]
        pids = {str(r.process.pid) for r in replicas}
        _send(batches, _exporters(replicas, key))

        _poll(
            lambda: _sampling_counts(engine),
            f"{TRACES} traces decided, none pending (decided, pending)",
            done=lambda counts: counts[0] >= TRACES and counts[1] == 0,
        )
        fired = _poll(lambda: _fired_at(engine), "the budget rule fires")
        _poll(
            lambda: sum(c.evaluated_at > fired for c in _claims(engine)) >= MORE_INTERVALS,
            f"{MORE_INTERVALS} more intervals evaluated after the firing",
        )
        with engine.connect() as conn:
            _assert_stored_once(conn, spans, pids)
        events = _alert_events(engine)
        evaluated = _claims(engine)
    # The replicas are stopped: their notifier queues have drained.

    _assert_alerted_once(events, evaluated, pids, webhook.bodies)


def _assert_stored_once(conn, spans: list[ReadableSpan], pids: set[str]) -> None:
    """Each span stored and counted once, one decision per trace, one holder per lease."""
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
    assert "alerts" in names
    for lease in leases:
        assert lease.holder.split(":")[1] in pids, lease


def _assert_alerted_once(
    events: list[tuple[str, str]],
    evaluated: list[Any],
    pids: set[str],
    bodies: list[dict[str, Any]],
) -> None:
    """One claim per evaluated interval, by a replica; one firing; one webhook notification."""
    assert events == [("inactive", "pending"), ("pending", "firing")]
    assert {c.holder.split(":")[1] for c in evaluated} <= pids
    assert all(c.interval_ms == 1000 and c.slot == c.evaluated_at for c in evaluated)
    assert len({c.slot for c in evaluated}) == len(evaluated) >= MORE_INTERVALS + 1
    assert [(b["status"], [a["rule"] for a in b["alerts"]]) for b in bodies] == [
        ("firing", ["spend"])
    ]
