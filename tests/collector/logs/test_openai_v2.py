"""The official ``opentelemetry-instrumentation-openai-v2`` and the real ``openai`` client,
against the fake provider, exporting spans and GenAI log events to the REAL collector over
OTLP/HTTP and gRPC: the chat span is stored with its messages, redacted, whichever of span and
events arrives first, and no raw content is written anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select

from examples.fake_provider import FakeOpenAI
from glassline.collector.testing import RunningCollector, run_collector

APP = Path(__file__).with_name("openai_v2_app.py")
RAW = ("alice.johnson@example.com", "Alice Johnson")
# The library's default: one log event per message. The newer conventions: one
# gen_ai.client.inference.operation.details event per call (opt-in).
DEFAULT: dict[str, str] = {}
DETAILS = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as running:
        yield running


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    with run_collector(
        tenants=("http_logs_first", "grpc_spans_first", "http_details"),
        workdir=tmp_path_factory.mktemp("openai-v2"),
    ) as running:
        yield running


def run_app(collector: RunningCollector, provider: FakeOpenAI, tenant: str, protocol: str,
            order: str, env: dict[str, str]) -> None:  # fmt: skip
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    done = subprocess.run(
        [sys.executable, str(APP), protocol, endpoint, collector.api_keys[tenant],
         provider.base_url, order],
        capture_output=True, text=True, timeout=120, env={**_clean_env(), **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Failed to export" not in done.stderr, done.stderr[-3000:]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def chat_span(collector: RunningCollector, tenant: str) -> dict[str, Any]:
    engine = create_engine(collector.db_url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=["spans"])
        spans = meta.tables["spans"]
        with engine.connect() as conn:
            rows = conn.execute(select(spans).where(spans.c.tenant == tenant)).mappings().all()
    finally:
        engine.dispose()
    [row] = rows
    attributes = row["attributes"]
    return json.loads(attributes) if isinstance(attributes, str) else attributes


def text_of(messages: str) -> list[tuple[str, str]]:
    return [(m["role"], m["parts"][0]["content"]) for m in json.loads(messages)]


RUNS = [  # tenant, transport, which provider flushes first, environment
    ("http_logs_first", "http", "logs-first", DEFAULT),
    ("grpc_spans_first", "grpc", "spans-first", DEFAULT),
    ("http_details", "http", "spans-first", DETAILS),
]


@pytest.fixture(scope="module")
def runs(collector: RunningCollector, provider: FakeOpenAI) -> RunningCollector:
    """The collector after one app run per row of RUNS, each under its own tenant."""
    for tenant, protocol, order, env in RUNS:
        run_app(collector, provider, tenant, protocol, order, env)
    return collector


@pytest.mark.parametrize("tenant", [run[0] for run in RUNS])
def test_the_chat_span_is_stored_with_its_redacted_messages(
    runs: RunningCollector, tenant: str
) -> None:
    attributes = chat_span(runs, tenant)
    question = "My name is <PERSON>, write to <EMAIL_ADDRESS> about invoice 7"
    assert text_of(attributes["gen_ai.input.messages"]) == [
        ("system", "You answer billing questions."),
        ("user", question),
    ]
    [(role, answer)] = text_of(attributes["gen_ai.output.messages"])
    assert role == "assistant" and question in answer  # the fake provider echoes the question
    evidence = attributes["glassline.content.redaction.entities"]
    assert (evidence["EMAIL_ADDRESS"], evidence["PERSON"]) == (2, 2)


def test_no_raw_content_reached_any_table_or_the_log(runs: RunningCollector) -> None:
    """Every table, every column, and the collector's own log."""
    engine = create_engine(runs.db_url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            dumped = [
                repr(row) for table in meta.sorted_tables for row in conn.execute(select(table))
            ]
    finally:
        engine.dispose()
    assert any("<EMAIL_ADDRESS>" in row for row in dumped)  # the runs did store content
    assert not [row for row in dumped if any(raw in row for raw in RAW)]
    assert not [raw for raw in RAW if raw in runs.logs()]
