"""The labelled corpus through a running collector, then every stored byte and log line scanned.

Each sample is sent with the stock OpenTelemetry SDK and OTLP gRPC exporter in seven
placements (message JSON, exception event, custom attribute, OpenInference attribute, event
attribute, status message, resource attribute) to a collector at DEBUG with default settings
on SQLite. Then the database file, its WAL and the collector's log are searched for every
labelled value (as written, and as JSON would escape it): a value found anywhere leaked.
Hard negatives (timestamps, ids, versions, SKUs, model names, URLs) must still be there.

    python -m tests.e2e.redaction_corpus --samples 2400   # the full run; a table per entity
                                                         # and placement (docs/redaction.md)

``tests/e2e/test_redaction_corpus.py`` runs a bounded share of it in CI.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from glassline.collector.testing import run_collector
from tests.redaction.corpus import Sample, generate_corpus, to_attributes

__all__ = ["PLACEMENTS", "Scan", "run"]

_RESOURCE_GROUP = 5  # samples per resource (one TracerProvider each)


def _message_json(span: Span, sample: Sample) -> None:
    span.set_attributes(to_attributes(sample))
    # A model field holding whatever the payload put there (issue 17: it was stored and
    # logged as sent); tokens, so that enrich looks for its price.
    model = sample.pii_values[0] if sample.pii_values else "gpt-4o-2024-08-06"
    span.set_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
        }
    )


def _exception_event(span: Span, sample: Sample) -> None:
    span.record_exception(ValueError(sample.text))


def _custom_attribute(span: Span, sample: Sample) -> None:
    span.set_attribute("app.customer_note", sample.text)


def _openinference(span: Span, sample: Sample) -> None:
    span.set_attributes(
        {
            "openinference.span.kind": "LLM",
            "input.value": sample.text,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": sample.text,
        }
    )


def _event_attribute(span: Span, sample: Sample) -> None:
    span.add_event("gen_ai.user.message", {"content": sample.text})


def _status_message(span: Span, sample: Sample) -> None:
    span.set_status(Status(StatusCode.ERROR, sample.text))


PLACEMENTS: dict[str, Callable[[Span, Sample], None]] = {
    "message JSON": _message_json,
    "exception event": _exception_event,
    "custom attribute": _custom_attribute,
    "OpenInference attribute": _openinference,
    "event attribute": _event_attribute,
    "status message": _status_message,
}
RESOURCE = "resource attribute"


@dataclass
class Scan:
    """Labelled values found on disk or in the log, by entity and placement."""

    labelled: Counter[tuple[str, str]] = field(default_factory=Counter)
    leaked: Counter[tuple[str, str]] = field(default_factory=Counter)
    leaked_values: list[tuple[str, str, str]] = field(default_factory=list)
    negatives: int = 0
    altered: list[str] = field(default_factory=list)
    in_log: list[str] = field(default_factory=list)
    stored_spans: int = 0

    def recall(self, entity: str, placement: str | None = None) -> float:
        keys = [k for k in self.labelled if k[0] == entity and placement in (None, k[1])]
        total = sum(self.labelled[k] for k in keys)
        return 1 - sum(self.leaked[k] for k in keys) / total if total else 1.0

    def table(self) -> str:
        placements = [*PLACEMENTS, RESOURCE]
        entities = sorted({e for e, _ in self.labelled})
        head = "| entity | labelled | recall | " + " | ".join(placements) + " |"
        rows = [head, "|---" * (len(placements) + 3) + "|"]
        for entity in entities:
            total = sum(n for (e, _), n in self.labelled.items() if e == entity)
            cells = [f"{self.recall(entity, p):.3f}" for p in placements]
            rows.append(
                f"| {entity} | {total} | {self.recall(entity):.4f} | " + " | ".join(cells) + " |"
            )
        rows.append(f"\nhard negatives: {len(self.altered)} of {self.negatives} altered "
                    f"({len(self.altered) / max(1, self.negatives):.4%}); "
                    f"labelled values in the DEBUG log: {len(self.in_log)}; "
                    f"spans stored: {self.stored_spans}")  # fmt: skip
        return "\n".join(rows)


def _forms(value: str) -> set[str]:
    """``value`` as it may appear in stored bytes: as is, and JSON-escaped (both styles)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _export(endpoint: str, api_key: str, samples: list[Sample]) -> int:
    """Send every sample in every placement; returns the number of spans sent."""
    sent = 0
    for start in range(0, len(samples), _RESOURCE_GROUP):
        group = samples[start : start + _RESOURCE_GROUP]
        resource = {"service.name": "corpus"}
        resource.update({f"app.sample.{i}": s.text for i, s in enumerate(group)})
        exporter = OTLPSpanExporter(
            endpoint=endpoint, insecure=True, headers={"authorization": f"Bearer {api_key}"}
        )
        provider = TracerProvider(resource=Resource.create(resource))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=256))
        tracer = provider.get_tracer("corpus")
        for i, sample in enumerate(group):
            for name, place in PLACEMENTS.items():
                with tracer.start_as_current_span(f"sample {start + i} {name}") as span:
                    place(span, sample)  # type: ignore[arg-type]
                sent += 1
        provider.shutdown()  # flushes: every span of the group is acknowledged
    return sent


def run(samples: list[Sample], workdir: Path) -> Scan:
    """Ingest ``samples`` through a real collector at DEBUG and scan what it kept."""
    db = workdir / "gl.db"
    config = {"logging": {"level": "DEBUG"}, "storage": {"url": f"sqlite:///{db}"}}
    with run_collector(config, workdir=workdir) as collector:
        _export(collector.grpc_endpoint, collector.api_key, samples)
        # Read while the collector runs, so the WAL is still there to be scanned too.
        files = b"".join(p.read_bytes() for p in sorted(workdir.glob("gl.db*")))
        by_placement, stored = _stored_by_placement(db)
    disk = files.decode("utf-8", "replace")
    logs = collector.logs()
    scan = Scan(stored_spans=stored)
    for sample in samples:
        for label in sample.labels:
            if label.entity == "LOCATION":
                continue  # places are found by NER only (off by default)
            forms = _forms(label.value)
            if label.entity == "NEGATIVE":
                scan.negatives += 1
                if not any(f in disk for f in forms):
                    scan.altered.append(label.value)
                continue
            if len(label.value) >= 6 and any(f in logs for f in forms):
                scan.in_log.append(label.entity)
            anywhere = len(label.value) >= 5 and any(f in disk for f in forms)
            if anywhere:
                scan.leaked_values.append((label.entity, sample.kind, label.value))
            for placement, text in by_placement.items():
                scan.labelled[(label.entity, placement)] += 1
                # Values under 5 characters could match by coincidence: judged anywhere only.
                if anywhere and any(f in text for f in forms):
                    scan.leaked[(label.entity, placement)] += 1
    return scan


def _stored_by_placement(db: Path) -> tuple[dict[str, str], int]:
    """The stored text of the spans of each placement (resource: every span's resource)."""
    texts: dict[str, list[str]] = {p: [] for p in (*PLACEMENTS, RESOURCE)}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT name, attributes, events, status_message, resource FROM spans"
        ).fetchall()
    for name, attributes, events, status, resource in rows:
        placement = next((p for p in PLACEMENTS if name.endswith(p)), None)
        if placement is not None:
            texts[placement].extend((name, str(attributes), str(events), str(status)))
        texts[RESOURCE].append(str(resource))
    return {p: "\n".join(t) for p, t in texts.items()}, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    samples = generate_corpus(args.samples, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        scan = run(samples, Path(tmp))
    print(f"{len(samples)} texts x {len(PLACEMENTS) + 1} placements, seed {args.seed}")
    print(scan.table())
    print("leaked:", scan.leaked_values[:30])


if __name__ == "__main__":
    main()
