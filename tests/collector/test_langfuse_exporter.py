"""Langfuse's own SDK and exporter, at their defaults, send to the collector when only the host
changes: ``{host}/api/public/otel/v1/traces`` with ``Basic base64(public key:secret key)``.

The app runs the real ``langfuse`` package in its own process, as its users run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import httpx
import pytest

from glassline.collector.auth import generate_langfuse_pair, hash_key
from glassline.collector.testing import RunningCollector, run_collector

APP = textwrap.dedent(
    """
    import sys
    from langfuse import Langfuse

    public_key, secret_key, base_url = sys.argv[1:4]
    langfuse = Langfuse(public_key=public_key, secret_key=secret_key, base_url=base_url)
    with langfuse.start_as_current_observation(name="answer", as_type="span") as root:
        with langfuse.start_as_current_observation(
            name="generate", as_type="generation", model="gpt-4o-mini",
            input=[{"role": "user", "content": "Where is my invoice?"}],
        ) as generation:
            generation.update(output="In Settings.", usage_details={"input": 12, "output": 3})
        print(root.trace_id)
    langfuse.shutdown()
    """
)


def run_app(public_key: str, secret_key: str, base_url: str) -> tuple[str, str]:
    """Runs the app; returns its trace id and what it logged."""
    done = subprocess.run(
        [sys.executable, "-c", APP, public_key, secret_key, base_url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1], done.stderr


def stored_trace(collector: RunningCollector, trace_id: str) -> dict | None:
    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/traces/{trace_id}",
        headers={"authorization": f"Bearer {collector.admin_key}"},
    )
    return response.json() if response.status_code == 200 else None


@pytest.fixture(scope="module")
def langfuse_pair() -> tuple[str, str]:
    return generate_langfuse_pair()


@pytest.fixture(scope="module")
def collector(langfuse_pair: tuple[str, str]) -> RunningCollector:
    public, secret = langfuse_pair
    config = {"auth": {"tenants": {"lf-team": [hash_key(f"{public}:{secret}")]}}}
    with run_collector(config) as running:
        yield running


def test_langfuse_sdk_with_an_issued_pair_stores_its_spans_in_the_pairs_tenant(
    collector: RunningCollector, langfuse_pair: tuple[str, str]
) -> None:
    trace_id, logged = run_app(*langfuse_pair, collector.http_endpoint)
    trace = stored_trace(collector, trace_id)
    assert trace is not None, logged[-2000:]
    spans = {span["name"]: span for span in trace["spans"]}
    assert set(spans) == {"answer", "generate"}
    assert all(span["tenant"] == "lf-team" for span in spans.values())
    assert spans["generate"]["model"] == "gpt-4o-mini"
    assert (spans["generate"]["input_tokens"], spans["generate"]["output_tokens"]) == (12, 3)


def test_a_glassline_key_as_the_langfuse_secret_works_too(collector: RunningCollector) -> None:
    trace_id, logged = run_app("pk-lf-anything", collector.api_key, collector.http_endpoint)
    trace = stored_trace(collector, trace_id)
    assert trace is not None, logged[-2000:]
    assert {span["tenant"] for span in trace["spans"]} == {collector.tenant}


def test_a_wrong_secret_is_refused_and_nothing_is_stored(
    collector: RunningCollector, langfuse_pair: tuple[str, str]
) -> None:
    public, _ = langfuse_pair
    trace_id, _ = run_app(public, "sk-lf-wrong", collector.http_endpoint)
    assert stored_trace(collector, trace_id) is None
    body = json.dumps({"resourceSpans": []})
    refused = httpx.post(
        f"{collector.http_endpoint}/api/public/otel/v1/traces",
        content=body,
        headers={"content-type": "application/json", "authorization": "Basic cGs6c2s="},
    )
    assert refused.status_code == 401
    assert "unknown API key" in refused.json()["message"]
