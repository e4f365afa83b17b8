"""Service version, prompt version and API key reach the rollups, end to end.

The SDK sends through the real collector with a NAMED key; the app's resource carries
``service.version`` (``OTEL_RESOURCE_ATTRIBUTES``, as any OpenTelemetry app sets it) and its
stage a ``prompt=(name, version)``. ``/api/v1/stats`` then groups spend by each of them, and
the key appears by its name only: a span claiming another key's name is re-stamped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from glassline.collector.auth import generate_key
from glassline.collector.testing import RunningCollector, run_collector

BATCH_KEY = generate_key()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    work = tmp_path_factory.mktemp("versions")
    config = {"auth": {"tenants": {"acme": [{"name": "batch-jobs", "key": BATCH_KEY}]}}}
    with run_collector(config, tenants=("acme",), workdir=work) as c:
        yield c


def _stats(collector: RunningCollector, group_by: str, kind: str = "llm") -> dict[str, float]:
    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/stats",
        params={"group_by": group_by, "kind": kind, "start": 0, "end": 2**62},
        headers=collector.headers(),
        timeout=10,
    )
    response.raise_for_status()
    return {row["group"]: row["cost_usd"] for row in response.json()["groups"]}


APP = """
import sys
from opentelemetry import trace
from glassline.instrumentation import init, llm, shutdown, stage, workflow

init(endpoint=sys.argv[1], api_key=sys.argv[2], instrument=[])


@stage("answer", prompt=("support-answer", "v7"))
@llm(provider="openai", model="gpt-4o-mini")
def answer(question):
    span = trace.get_current_span()
    span.set_attribute("glassline.cost.usd", 0.25)  # a client-side price
    # A span cannot claim to be another key's spend: the collector stamps the name.
    span.set_attribute("glassline.api_key.name", "someone-else")
    return "ok"


@workflow("ask")
def ask(question):
    return answer(question)


for _ in range(4):
    ask("hello?")
shutdown()  # flushes: acknowledged spans are in the rollups
"""


def test_spend_is_grouped_by_service_version_prompt_version_and_key_name(
    collector: RunningCollector,
) -> None:
    # An app process of its own: its resource (service.version) is set once, at init.
    env = {**os.environ, "OTEL_RESOURCE_ATTRIBUTES": "service.version=1.4.2"}
    app = [sys.executable, "-c", APP, f"http://{collector.grpc_endpoint}", BATCH_KEY]
    subprocess.run(app, env=env, check=True, timeout=300)

    assert _stats(collector, "service_version") == {"1.4.2": pytest.approx(1.0)}
    assert _stats(collector, "prompt_version") == {"v7": pytest.approx(1.0)}
    assert _stats(collector, "prompt_name") == {"support-answer": pytest.approx(1.0)}
    assert _stats(collector, "api_key") == {"batch-jobs": pytest.approx(1.0)}
    # The request spans carry the service version and key, not the stage's prompt.
    assert _stats(collector, "prompt_version", kind="workflow") == {"": 0.0}
    assert set(_stats(collector, "api_key", kind="workflow")) == {"batch-jobs"}
