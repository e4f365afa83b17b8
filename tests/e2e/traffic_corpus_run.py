"""The production-shaped corpus through real collectors, then every file they wrote scanned.

Each placement gets its own collector (default config, SQLite) in its own directory, so a
value found in a directory leaked from that placement. The placements are what real
clients send:

- ``openai-v2``: the real ``openai`` client, instrumented by the official
  opentelemetry-instrumentation-openai-v2 (content on spans and as GenAI log events), against
  a fake provider that answers with the sample (a tool call whose arguments are the sample
  for tool calls, an assistant message quoting it otherwise);
- the OTel SDK with custom attributes: ``message JSON`` (``gen_ai.input.messages``),
  ``custom attribute``, ``JSON attribute`` (the sample inside a JSON object of a custom
  attribute), ``exception event``, ``status message``.

Then every file under each directory (the database, its WAL and shm, the log) is searched
for every labelled value as written, JSON-escaped, and case-folded.

    python -m tests.e2e.traffic_corpus_run --samples 700    # tables by entity, form, placement
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from glassline.collector.testing import RunningCollector, run_collector
from tests.redaction.traffic_corpus import Sample, clean_corpus, forms, traffic_corpus

__all__ = ["PLACEMENTS", "Scan", "run"]

MIN_CHARS = 4  # a shorter value ("Li", "Obi") would be found by coincidence: not judged


def _message_json(span: Span, sample: Sample) -> None:
    msgs = [{"role": "user", "parts": [{"type": "text", "content": sample.text}]}]
    span.set_attributes({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": json.dumps(msgs, ensure_ascii=False),
    })  # fmt: skip


def _custom_attribute(span: Span, sample: Sample) -> None:
    span.set_attribute("app.ticket.body", sample.text)


def _json_attribute(span: Span, sample: Sample) -> None:
    doc = {"source": sample.kind, "chunk": sample.text, "score": 0.83}
    span.set_attribute("retrieval.documents", json.dumps([doc]))


def _exception_event(span: Span, sample: Sample) -> None:
    span.record_exception(RuntimeError(sample.text))


def _status_message(span: Span, sample: Sample) -> None:
    span.set_status(Status(StatusCode.ERROR, sample.text))


SDK_PLACEMENTS: dict[str, Callable[[Span, Sample], None]] = {
    "message JSON": _message_json,
    "custom attribute": _custom_attribute,
    "JSON attribute": _json_attribute,
    "exception event": _exception_event,
    "status message": _status_message,
}
PLACEMENTS = ("openai-v2", *SDK_PLACEMENTS)


@dataclass
class Scan:
    """Labelled values found in the files each placement's collector wrote."""

    labelled: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # entity, form, pl.
    leaked: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    leaked_values: list[tuple[str, str, str, str]] = field(default_factory=list)
    negatives: Counter[str] = field(default_factory=Counter)  # placement -> terms
    altered: Counter[str] = field(default_factory=Counter)  # term -> times altered
    not_judged: int = 0
    traces_stored: Counter[str] = field(default_factory=Counter)

    def recall(
        self, entity: str, *, form: str | None = None, placement: str | None = None
    ) -> float:
        def keep(k: tuple[str, str, str]) -> bool:
            return k[0] == entity and form in (None, k[1]) and placement in (None, k[2])

        total = sum(n for k, n in self.labelled.items() if keep(k))
        leaked = sum(n for k, n in self.leaked.items() if keep(k))
        return 1 - leaked / total if total else 1.0

    def entities(self) -> list[str]:
        return sorted({k[0] for k in self.labelled})

    def table(self) -> str:
        placements = [p for p in PLACEMENTS if any(k[2] == p for k in self.labelled)]
        head = "| entity | labelled | recall | " + " | ".join(placements) + " |"
        rows = [head, "|---" * (len(placements) + 3) + "|"]
        for entity in self.entities():
            total = sum(n for k, n in self.labelled.items() if k[0] == entity)
            cells = [f"{self.recall(entity, placement=p):.3f}" for p in placements]
            rows.append(
                f"| {entity} | {total} | {self.recall(entity):.4f} | " + " | ".join(cells) + " |"
            )
        return "\n".join(rows)

    def form_table(self) -> str:
        rows = ["| entity | form | labelled | recall |", "|---|---|---:|---:|"]
        for entity, form in sorted({(k[0], k[1]) for k in self.labelled}):
            total = sum(n for k, n in self.labelled.items() if k[:2] == (entity, form))
            rows.append(f"| {entity} | {form} | {total} | {self.recall(entity, form=form):.3f} |")
        return "\n".join(rows)

    def clean_line(self) -> str:
        total = sum(self.negatives.values())
        altered = sum(self.altered.values())
        return (f"clean terms: {altered} of {total} altered ({altered / max(1, total):.2%}); "
                f"most altered: {self.altered.most_common(12)}")  # fmt: skip


class _FakeProvider:
    """An OpenAI-compatible endpoint answering each prompt with the answer registered for it."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        answers = self.answers

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                message = answers[body["messages"][-1]["content"]]
                data = json.dumps({
                    "id": "chatcmpl-traffic", "object": "chat.completion", "created": 1733600000,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message,
                                 "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[_FakeProvider]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _answer(sample: Sample) -> dict[str, Any]:
    if sample.kind == "tool_call":
        call = json.loads(sample.text)
        return {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
        }]}  # fmt: skip
    return {"role": "assistant", "content": f"Here is what I found:\n{sample.text}"}


def _send_openai_v2(collector: RunningCollector, samples: list[Sample]) -> list[str]:
    """The real openai client, instrumented by opentelemetry-instrumentation-openai-v2."""
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_AND_EVENT"
    import openai
    from opentelemetry import _logs, trace
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    headers = {"authorization": f"Bearer {collector.api_key}"}
    resource = Resource.create({"service.name": "traffic-openai-v2"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True, headers=headers)
        )
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=collector.grpc_endpoint, insecure=True, headers=headers)))  # fmt: skip
    trace.set_tracer_provider(provider)
    _logs.set_logger_provider(logs)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, logger_provider=logs)
    fake = _FakeProvider()
    tools = [{"type": "function", "function": {"name": "crm", "parameters": {"type": "object"}}}]
    tracer = provider.get_tracer("traffic")
    trace_ids = []
    try:
        with fake.running():
            client = openai.OpenAI(base_url=fake.url, api_key="sk-traffic")
            for sample in samples:
                fake.answers[sample.text] = _answer(sample)
                with tracer.start_as_current_span("handle") as root:  # one trace per sample
                    trace_ids.append(f"{root.get_span_context().trace_id:032x}")
                    client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": sample.text}],
                        **({"tools": tools} if sample.kind == "tool_call" else {}),
                    )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
        logs.shutdown()
    return trace_ids


def _send_sdk(
    collector: RunningCollector, samples: list[Sample], place: Callable[[Span, Sample], None]
) -> list[str]:
    headers = {"authorization": f"Bearer {collector.api_key}"}
    provider = TracerProvider(resource=Resource.create({"service.name": "traffic-sdk"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True, headers=headers),
        max_export_batch_size=256))  # fmt: skip
    tracer = provider.get_tracer("traffic")
    trace_ids = []
    for sample in samples:
        with tracer.start_as_current_span(f"handle {sample.kind}") as span:
            trace_ids.append(f"{span.get_span_context().trace_id:032x}")
            place(span, sample)  # type: ignore[arg-type]
    provider.shutdown()
    return trace_ids


@dataclass
class _Stored:
    """What one placement's collector wrote: each trace's stored text, and its other files."""

    by_trace: dict[str, str]
    files: str  # every file but the database's: the log
    database: str  # the database file, its WAL and shm, as bytes decoded


def _stored(workdir: Path, db: Path) -> _Stored:
    """Read while the collector runs, so the WAL is still there (SQLite reads it too)."""
    by_trace: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
            if "trace_id" not in columns:
                continue
            for row in conn.execute(f"SELECT * FROM '{table}'"):
                trace_id = row[columns.index("trace_id")]
                by_trace.setdefault(trace_id, []).append(" ".join(map(str, row)))
    files = sorted(p for p in workdir.iterdir() if p.is_file() and p.name != "collector.yaml")
    database = b"".join(p.read_bytes() for p in files if p.name.startswith(db.name))
    other = b"".join(p.read_bytes() for p in files if not p.name.startswith(db.name))
    return _Stored(
        {t: "\n".join(v) for t, v in by_trace.items()},
        other.decode("utf-8", "replace"),
        database.decode("utf-8", "replace"),
    )


def _collect(placement: str, samples: list[Sample], workdir: Path) -> tuple[list[str], _Stored]:
    workdir.mkdir(parents=True)
    db = workdir / "glassline.db"
    with run_collector({}, workdir=workdir) as collector:
        if placement == "openai-v2":
            trace_ids = _send_openai_v2(collector, samples)
        else:
            trace_ids = _send_sdk(collector, samples, SDK_PLACEMENTS[placement])
        # The exporters were shut down: every export was acknowledged, so it is durable.
        return trace_ids, _stored(workdir, db)


# Values drawn from short lists recur in other samples: judged in their own trace only. The
# others (random keys, numbers, addresses) are also looked for in the database's raw bytes.
_REPEATED = frozenset({"PERSON", "PERSON_LONE_FIRST", "LOCATION"})


def _found(value: str, text: str) -> bool:
    folded = text.casefold()
    return any(v in text or v.casefold() in folded for v in forms(value))


def run(samples: list[Sample], clean: list[Sample], workdir: Path,
        placements: tuple[str, ...] = PLACEMENTS) -> Scan:  # fmt: skip
    """A labelled value leaked if its own trace's stored rows hold it (as written, JSON
    escaped or case-folded), or the collector's files hold it as written: its log, and for
    values that do not recur across samples the database's raw bytes (file, WAL, shm)."""
    scan = Scan()
    for placement in placements:
        trace_ids, stored = _collect(
            placement, [*samples, *clean], workdir / placement.replace(" ", "_")
        )
        scan.traces_stored[placement] = sum(t in stored.by_trace for t in trace_ids)
        everything = stored.files + stored.database
        for sample, trace_id in zip(samples, trace_ids, strict=False):
            own = stored.by_trace.get(trace_id, "")
            for label in sample.labels:
                if len(label.value) < MIN_CHARS:
                    scan.not_judged += 1
                    continue
                key = (label.entity, label.form, placement)
                scan.labelled[key] += 1
                written = stored.files if label.entity in _REPEATED else everything
                if _found(label.value, own) or any(v in written for v in forms(label.value)):
                    scan.leaked[key] += 1
                    scan.leaked_values.append((label.entity, label.form, placement, label.value))
        for sample, trace_id in zip(clean, trace_ids[len(samples) :], strict=True):
            own = stored.by_trace.get(trace_id, "")
            for label in sample.labels:
                scan.negatives[placement] += 1
                if not any(v in own for v in forms(label.value)):
                    scan.altered[label.value] += 1
    return scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=700)
    parser.add_argument("--seed", type=int, default=20261208)
    parser.add_argument("--clean", type=int, default=200)
    parser.add_argument("--placements", default=",".join(PLACEMENTS))
    parser.add_argument("--dump", help="write the leaked values as JSON here")
    args = parser.parse_args()
    samples = traffic_corpus(args.samples, seed=args.seed)
    clean = clean_corpus(args.clean)
    with tempfile.TemporaryDirectory() as tmp:
        scan = run(samples, clean, Path(tmp), tuple(args.placements.split(",")))
    print(f"{len(samples)} samples, seed {args.seed}; values under {MIN_CHARS} characters "
          f"not judged: {scan.not_judged}")  # fmt: skip
    print(scan.table())
    print()
    print(scan.form_table())
    print()
    print(scan.clean_line())
    print("traces stored per placement:", dict(scan.traces_stored))
    if args.dump:
        Path(args.dump).write_text(json.dumps(scan.leaked_values, ensure_ascii=False, indent=0))


if __name__ == "__main__":
    main()
