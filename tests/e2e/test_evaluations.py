"""Evaluations for real: an app's record_evaluation, a signal computed at ingest and a
thumbs-down posted hours later reach the collector process, are redacted, and land on the
right trace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import httpx
import pytest

from glassline.collector.testing import RunningCollector, run_collector

APP_SCRIPT = textwrap.dedent(
    """
    import sys
    from glassline.instrumentation import init, llm, record_evaluation, shutdown, stage, workflow

    endpoint, api_key = sys.argv[1:3]
    init(service_name="e2e-app", endpoint=endpoint, protocol="http", api_key=api_key)

    @stage("generate")
    @llm(provider="openai", model="gpt-4o-mini")
    def generate(question):
        response = {"id": "chatcmpl-e2e-1", "model": "gpt-4o-mini",
                    "choices": [{"message": {"role": "assistant", "content": "Settings."},
                                 "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
        record_evaluation("relevance", 0.9, label="pass",
                          explanation="mail jane.doe@example.com agreed")
        return response

    @workflow("answer")
    def answer(question):
        return generate(question)

    answer("How do I rotate API keys?")
    shutdown()
    """
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    with run_collector(tenants=("acme", "globex"), workdir=tmp_path_factory.mktemp("ev")) as c:
        yield c


def _evaluations(collector: RunningCollector, tenant: str, trace_id: str) -> list[dict]:
    response = httpx.get(f"{collector.http_endpoint}/api/v1/evaluations",
                         params={"trace_id": trace_id}, headers=collector.headers(tenant),
                         timeout=10)  # fmt: skip
    response.raise_for_status()
    return response.json()["evaluations"]


def test_app_evaluation_and_late_feedback_land_on_the_trace(collector: RunningCollector) -> None:
    subprocess.run([sys.executable, "-c", APP_SCRIPT, collector.http_endpoint,
                    collector.api_keys["acme"]], check=True, timeout=120)  # fmt: skip
    traces = httpx.get(f"{collector.http_endpoint}/api/v1/traces",
                       headers=collector.headers("acme"), timeout=10).json()["traces"]  # fmt: skip
    [trace] = traces
    judged, truncated = sorted(_evaluations(collector, "acme", trace["trace_id"]),
                               key=lambda e: e["name"] != "relevance")  # fmt: skip
    assert (truncated["name"], truncated["source"]) == ("glassline.truncated", "signal")
    assert (judged["name"], judged["score_value"], judged["source"]) == (
        "relevance",
        0.9,
        "span_event",
    )
    assert judged["model"] == "gpt-4o-mini" and judged["stage"] == "generate"
    assert "jane.doe@example.com" not in judged["explanation"]  # redacted like the span

    # Hours later the app's UI sends a thumbs-down for the answer it showed (by response id).
    feedback = {"id": "ui-42", "name": "user_feedback", "response_id": "chatcmpl-e2e-1",
                "label": "thumbs_down", "value": 0}  # fmt: skip
    url = f"{collector.http_endpoint}/api/v1/evaluations"
    answer = httpx.post(url, json=feedback, headers=collector.headers("acme"), timeout=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["evaluation"]["trace_id"] == trace["trace_id"]
    again = httpx.post(url, json=feedback, headers=collector.headers("acme"), timeout=10)
    assert again.status_code == 200
    names = sorted(e["name"] for e in _evaluations(collector, "acme", trace["trace_id"]))
    assert names == ["glassline.truncated", "relevance", "user_feedback"]
    assert _evaluations(collector, "globex", trace["trace_id"]) == []
