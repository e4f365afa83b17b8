"""``gen_ai.evaluation.result`` log records reach the evaluations store through the same intake
as ``POST /api/v1/evaluations``: redacted, linked to their span, kept once per record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from glassline.collector.testing import RunningCollector, run_collector

PB = {"content-type": "application/x-protobuf"}


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with run_collector(workdir=tmp_path) as running:
        yield running


def test_an_evaluation_record_is_stored_redacted_and_once(
    collector: RunningCollector, lh: Any
) -> None:
    record = lh.log_record(
        "gen_ai.evaluation.result",
        attributes={
            "gen_ai.evaluation.name": "relevance",
            "gen_ai.evaluation.score.value": 0.25,
            "gen_ai.evaluation.score.label": "poor",
            "gen_ai.evaluation.explanation": "ignored what bob.smith@example.com asked",
        },
    )
    body = lh.logs_request(record).SerializeToString()
    for _ in range(2):  # a resend
        reply = httpx.post(f"{collector.http_endpoint}/v1/logs", content=body,
                           headers={**PB, **collector.headers()})  # fmt: skip
        assert reply.status_code == 200
        assert not ExportLogsServiceResponse.FromString(reply.content).HasField("partial_success")
    listed = httpx.get(
        f"{collector.http_endpoint}/api/v1/evaluations",
        params={"trace_id": lh.TRACE}, headers=collector.headers(),
    ).json()  # fmt: skip
    [evaluation] = listed["evaluations"]
    assert (evaluation["name"], evaluation["score_value"], evaluation["score_label"]) == (
        "relevance", 0.25, "poor",
    )  # fmt: skip
    assert (evaluation["trace_id"], evaluation["span_id"]) == (lh.TRACE, lh.SPAN)
    assert evaluation["source"] == "log"
    assert "bob.smith@example.com" not in evaluation["explanation"]
    assert "<EMAIL_ADDRESS>" in evaluation["explanation"]
    other = httpx.get(
        f"{collector.http_endpoint}/api/v1/evaluations",
        params={"trace_id": lh.TRACE}, headers=collector.headers("globex"),
    ).json()  # fmt: skip
    assert other["evaluations"] == []
