"""The collector's log output and its SQLite file hold no PII, no API key, no payload content.

A real collector runs with redaction on and DEBUG logging; the PII corpus arrives as prompt,
completion, tool-call and exception attributes through the stock OTLP gRPC exporter, followed by
malformed requests and a wrong API key. Then the log text and the database bytes are scanned.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from glassline.collector.testing import run_collector
from tests.redaction.corpus import generate_corpus, to_attributes

SAMPLES = generate_corpus(120, seed=909)
# Content that has no PII in it but must still stay out of the logs.
MARKER = "payload-marker-3f9c1e-do-not-log"
WRONG_KEY = "gl_wrongkey_7Qx2mZpL0aB9cD4eF6gH8iJ"


def _export_corpus(endpoint: str, api_key: str) -> None:
    exporter = OTLPSpanExporter(
        endpoint=endpoint, insecure=True, headers={"authorization": f"Bearer {api_key}"}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "hygiene"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hygiene")
    for sample in SAMPLES:
        with tracer.start_as_current_span(f"sample-{sample.kind}") as span:
            span.set_attributes({**to_attributes(sample), "app.note": MARKER})
    provider.shutdown()


def _send_bad_requests(base: str, api_key: str) -> list[int]:
    url = f"{base}/v1/traces"
    proto = {"content-type": "application/x-protobuf"}
    codes = []
    with httpx.Client(timeout=10) as client:
        for body, headers in (
            (MARKER.encode() * 20, {**proto, "authorization": f"Bearer {api_key}"}),
            (
                b'{"resourceSpans": [' + MARKER.encode(),
                {"content-type": "application/json", "authorization": f"Bearer {api_key}"},
            ),
            (MARKER.encode(), {**proto, "authorization": f"Bearer {WRONG_KEY}"}),
            (MARKER.encode(), {**proto, "x-glassline-api-key": WRONG_KEY}),
        ):
            codes.append(client.post(url, content=body, headers=headers).status_code)
        codes.append(
            client.get(
                f"{base}/api/v1/traces", headers={"authorization": f"Bearer {WRONG_KEY}"}
            ).status_code
        )
    return codes


def _secrets(keys: list[str]) -> set[str]:
    values = {v for s in SAMPLES for v in s.pii_values if len(v) >= 6}
    return values | set(keys) | {WRONG_KEY, MARKER}


def test_logs_and_database_hold_no_pii_keys_or_payload(tmp_path: Path) -> None:
    config = {"logging": {"level": "DEBUG"}, "storage": {"url": f"sqlite:///{tmp_path}/gl.db"}}
    with run_collector(config, workdir=tmp_path) as collector:
        _export_corpus(collector.grpc_endpoint, collector.api_key)
        codes = _send_bad_requests(collector.http_endpoint, collector.api_key)
        keys = [*collector.api_keys.values(), collector.admin_key]
    logs = collector.logs()
    assert all(code >= 400 for code in codes), codes
    assert "DEBUG" in logs, "DEBUG logging was not on, so the scan would prove little"
    leaked_in_logs = sorted(v for v in _secrets(keys) if v in logs)
    assert leaked_in_logs == []
    assert not any(s.text in logs for s in SAMPLES if len(s.text) >= 20)

    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("gl.db*"))
    assert len(db_bytes) > 0
    # Spans were stored (so the scan is not vacuous), their PII was not.
    assert b"sample-prompt" in db_bytes
    pii = {v for s in SAMPLES for v in s.pii_values if len(v) >= 6}
    leaked_on_disk = sorted(v for v in pii if v.encode() in db_bytes)
    assert leaked_on_disk == []
