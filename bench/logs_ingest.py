"""Ingest of GenAI content sent as OTLP log events (the openai-v2 instrumentation's default).

    .venv/bin/python -m bench.logs_ingest --quick      # ~1 minute
    .venv/bin/python -m bench.logs_ingest --seconds 20

One simulated LLM call is either one span carrying its messages as attributes (the baseline,
``bench.ingest``'s spans), or one content-free span plus three log events (system message,
user message, choice) carrying the same text, some of it PII. Three scenarios on the real
collector (SQLite, redaction on, 2 workers), each measured in this run:

- spans with content (baseline): calls/s;
- log events alone (each written to ``span_content``): events/s;
- spans and their events together, over gRPC TraceService and LogsService at once: calls/s,
  and afterwards every span is checked to hold the messages of its three events.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sqlalchemy import and_, func, select

from bench.ingest import MODELS, _content, _cpu_s, _cpu_since, _process_tree, drive, make_batch
from glassline.collector.storage import Store
from glassline.collector.storage.content import FROM_EVENTS
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.storage.models import SpanContent
from glassline.collector.testing import run_collector

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
CALLS = 128  # calls per request pair: 128 spans, 384 log records (the SDK batches 512)


def _text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def _kvlist(**items: Any) -> AnyValue:
    values = [
        KeyValue(key=k, value=v if isinstance(v, AnyValue) else _text(str(v)))
        for k, v in items.items()
    ]
    return AnyValue(kvlist_value=KeyValueList(values=values))


def make_pair(rng: random.Random) -> tuple[bytes, bytes]:
    """CALLS content-free chat spans and their three content events each."""
    spans, logs = ExportTraceServiceRequest(), ExportLogsServiceRequest()
    ss = spans.resource_spans.add().scope_spans.add()
    records = logs.resource_logs.add().scope_logs.add().log_records
    now = time.time_ns()
    for i in range(CALLS):
        trace_id, span_id = rng.randbytes(16), rng.randbytes(8)
        span = ss.spans.add(
            trace_id=trace_id, span_id=span_id, name="chat", kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=now - 900_000_000, end_time_unix_nano=now - 1_000_000,
        )  # fmt: skip
        for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.system", "openai"),
                           ("gen_ai.request.model", rng.choice(MODELS))):  # fmt: skip
            span.attributes.add(key=key).value.string_value = value
        bodies = [
            ("gen_ai.system.message", _kvlist(content="You answer questions about billing.")),
            ("gen_ai.user.message", _kvlist(content=_content(rng, 60, i % 4 == 1))),
            ("gen_ai.choice", _kvlist(index=0, finish_reason="stop", message=_kvlist(
                role="assistant", content=_content(rng, 50, False)))),
        ]  # fmt: skip
        for n, (name, body) in enumerate(bodies):
            records.add(
                event_name=name, trace_id=trace_id, span_id=span_id, body=body,
                observed_time_unix_nano=now - 800_000_000 + n,
            )  # fmt: skip
    return spans.SerializeToString(), logs.SerializeToString()


def run(name: str, args: argparse.Namespace, sends: list[tuple[str, list[bytes], int]]) -> Any:
    """Start a collector, warm up, drive every (method, bodies, per request) at once."""
    server = {"workers": 2, "max_inflight_requests": 16, "grpc_max_connection_age_s": 2}
    with (
        tempfile.TemporaryDirectory(prefix="glassline-bench-") as work,
        run_collector({"server": server}, workdir=work, tenants=("bench",)) as collector,
    ):
        endpoint, key = collector.grpc_endpoint, collector.api_key
        for method, bodies, per in sends:  # warm-up, outside the window
            drive(endpoint, key, bodies[:1], 60, 1, method=method, per_request=per)
        pids = _process_tree(collector.process.pid)
        cpu0 = _cpu_s(pids)
        results: list[tuple[int, int, float]] = []
        threads = [
            threading.Thread(target=lambda m=m, b=b, p=p: results.append(drive(
                endpoint, key, b[1:], args.seconds, args.threads // len(sends),
                method=m, per_request=p)))
            for m, b, p in sends
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu = _cpu_since(cpu0, pids)
        store = Store.open(collector.db_url)
        try:
            with store.session() as s:
                spans = s.scalar(select(func.count()).select_from(SpanRow)) or 0
                events = s.scalar(select(func.count()).select_from(SpanContent)) or 0
                # Counted here: SQLite's JSON path of a missing key is 'null', not NULL.
                attached = sum(1 for a in s.scalars(select(SpanRow.attributes)) if FROM_EVENTS in a)
                keys = (SpanContent.tenant, SpanContent.trace_id, SpanContent.span_id)
                with_events = s.scalar(
                    select(func.count()).select_from(
                        select(*keys).distinct().join(SpanRow, and_(
                            SpanRow.tenant == SpanContent.tenant,
                            SpanRow.trace_id == SpanContent.trace_id,
                            SpanRow.span_id == SpanContent.span_id,
                        )).subquery()
                    )
                ) or 0  # fmt: skip
        finally:
            store.close()
    elapsed = max(r[2] for r in results)
    return (
        name,
        [(r[0] / elapsed, r[0]) for r in results],
        cpu,
        spans,
        events,
        (attached, with_events),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 s per scenario")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=6, help="client threads")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 5.0
    rng = random.Random(7)
    n = int(args.seconds * 40) + 2
    print(f"encoding {n} request pairs of {CALLS} calls ...", file=sys.stderr)
    pairs = [make_pair(rng) for _ in range(n)]
    span_bodies, log_bodies = [p[0] for p in pairs], [p[1] for p in pairs]
    baseline = [make_batch(rng) for _ in range(n)]
    trace_export = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    scenarios = [
        run("spans with content (baseline)", args, [(trace_export, baseline, 512)]),
        run("log events alone", args, [(LOGS_EXPORT, log_bodies, 3 * CALLS)]),
        run("spans + their log events", args,
            [(trace_export, span_bodies, CALLS), (LOGS_EXPORT, log_bodies, 3 * CALLS)]),
    ]  # fmt: skip
    base_calls = scenarios[0][1][0][0]
    print(f"\nSQLite, redaction on, 2 workers, {args.threads} client threads, "
          f"{args.seconds:.0f}s each")  # fmt: skip
    for name, rates, cpu, spans, events, _ in scenarios:
        acked = sum(r[1] for r in rates)
        figures = "  ".join(f"{rate:,.0f}/s" for rate, _ in rates)
        print(f"{name:<32} {figures:<24} CPU {cpu * 1e6 / max(acked, 1):,.0f} us/item  "
              f"stored spans {spans:,}, events {events:,}")  # fmt: skip
    _, (spans_rate, logs_rate), _, spans, events, attached = scenarios[2]
    calls = min(spans_rate[0], logs_rate[0] / 3)
    print(f"\nlog events alone: {scenarios[1][1][0][0]:,.0f} events/s "
          f"= {scenarios[1][1][0][0] / 3 / base_calls:.2f}x the baseline's calls/s")  # fmt: skip
    print(f"spans + events: {calls:,.0f} calls/s = {calls / base_calls:.2f}x the baseline "
          f"(content on the span, {base_calls:,.0f} calls/s)")  # fmt: skip
    attached, with_events = attached
    print(f"stored spans holding their stored events' messages: {attached:,} of {with_events:,}")
    if attached != with_events:
        print(f"ERROR: {with_events - attached} spans lack their events", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
