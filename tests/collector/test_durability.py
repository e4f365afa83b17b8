"""Acknowledged means durable, counted once: SIGKILL mid-load, restart, check every span."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select

from glassline.collector.storage import Store
from glassline.collector.storage.models import Rollup, Span, Trace
from glassline.collector.testing import run_collector

BATCH = 200


def make_spans(n: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("load")
    for i in range(n // 4):
        with tracer.start_as_current_span(f"workflow-{i}"):
            for j in range(3):
                with tracer.start_as_current_span("chat") as span:
                    span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                    span.set_attribute("gen_ai.usage.input_tokens", 100 + j)
                    span.set_attribute("gen_ai.usage.output_tokens", 20 + i % 7)
                    span.set_attribute("gen_ai.input.messages", "hello " * 50)
    return list(memory.get_finished_spans())


def key(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    return (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")


def exporter(collector: Any) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=collector.grpc_endpoint, insecure=True, timeout=3,
        headers={"x-glassline-api-key": collector.api_key},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "victim"),
    [
        ({}, "collector"),
        # Two workers share the SQLite file under a write lock; one killed mid-load (maybe
        # holding the lock) must lose nothing acknowledged, and the supervisor stops the rest.
        ({"server": {"workers": 2}}, "worker"),
    ],
)
def test_sigkill_mid_load_loses_no_acknowledged_span_and_counts_each_once(
    tmp_path: Path, config: dict[str, Any], victim: str
) -> None:
    spans = make_spans(8000)
    batches = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]
    acknowledged: list[tuple[str, str]] = []
    enough = threading.Event()

    with run_collector(config, workdir=tmp_path) as collector:
        export = exporter(collector)

        def load() -> None:
            for n, batch in enumerate(batches):
                if export.export(batch) is not SpanExportResult.SUCCESS:
                    return  # the collector is gone: stop, as an app's exporter would drop
                acknowledged.extend(key(s) for s in batch)
                if n == 5:
                    enough.set()

        sender = threading.Thread(target=load)
        sender.start()
        assert enough.wait(60), "the load did not start"
        if victim == "worker":
            runners, _ = collector.workers()
            os.kill(runners[0], signal.SIGKILL)
        else:
            collector.process.kill()  # SIGKILL while exports are still arriving
        collector.process.wait(60)
        sender.join(120)
        export.shutdown()
    assert 6 * BATCH <= len(acknowledged) < len(spans), "the kill must land mid-load"

    with run_collector(config, workdir=tmp_path) as collector:
        retry = exporter(collector)
        # A client retry of acknowledged data and of data in flight at the kill.
        sent_again = batches[0] + batches[len(acknowledged) // BATCH]
        assert retry.export(sent_again) is SpanExportResult.SUCCESS
        retry.shutdown()

    store = Store.open(collector.db_url)
    try:
        with store.session() as s:
            stored = {tuple(r) for r in s.execute(select(Span.trace_id, Span.span_id))}
            rows = s.scalar(select(func.count()).select_from(Span))
            span_sums = s.execute(
                select(func.count(), func.sum(Span.input_tokens), func.sum(Span.output_tokens))
            ).one()
            rollup_sums = s.execute(
                select(func.sum(Rollup.count), func.sum(Rollup.input_tokens),
                       func.sum(Rollup.output_tokens))
            ).one()  # fmt: skip
            trace_spans = s.scalar(select(func.sum(Trace.span_count)))
    finally:
        store.close()
    assert set(acknowledged) <= stored
    assert rows == len(stored)  # no duplicates
    assert tuple(rollup_sums) == tuple(span_sums)  # rollups count each stored span once
    assert trace_spans == rows
