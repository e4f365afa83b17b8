"""The whole path, for real: decorated app code -> OTLP (gRPC and HTTP) -> collector process
-> SQLite -> query API and dashboard.

Each app runs in its own process, as apps do, and exits after ``shutdown()`` flushed its spans;
because the collector acknowledges only durable spans, the trace is queryable the moment the
app process has exited.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as dashboard_app
from glassline.collector.testing import RunningCollector, run_collector
from glassline.dashboard.env import ENV_DB_URL

APP_SCRIPT = textwrap.dedent(
    """
    import sys
    from glassline.instrumentation import init, llm, shutdown, stage, workflow, context

    endpoint, protocol, api_key, name = sys.argv[1:5]
    init(service_name="e2e-app", endpoint=endpoint, protocol=protocol, api_key=api_key)

    @stage("retrieve")
    def retrieve(question):
        return ["doc-1", "doc-2"]

    @stage("generate")
    @llm(provider="openai", model="gpt-4o-mini")
    def generate(question, documents):
        return {"model": "gpt-4o-mini", "choices": [{"message": {"role": "assistant",
                "content": "Rotate keys in Settings."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1200, "completion_tokens": 300}}

    @workflow(name)
    def answer(question):
        return generate(question, retrieve(question))

    with context(user="user-7", session="session-1"):
        answer("How do I rotate API keys?")
    shutdown()
    """
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> RunningCollector:
    with run_collector(
        tenants=("acme", "globex"), workdir=tmp_path_factory.mktemp("e2e")
    ) as running:
        yield running


def _send(collector: RunningCollector, protocol: str, root_name: str) -> None:
    endpoint = (
        f"http://{collector.grpc_endpoint}" if protocol == "grpc" else collector.http_endpoint
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            APP_SCRIPT,
            endpoint,
            protocol,
            collector.api_keys["acme"],
            root_name,
        ],
        check=True,
        timeout=120,
    )


def _traces(collector: RunningCollector, tenant: str) -> list[dict]:
    response = httpx.get(
        f"{collector.http_endpoint}/api/v1/traces", headers=collector.headers(tenant), timeout=10
    )
    response.raise_for_status()
    return response.json()["traces"]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_decorated_function_reaches_the_store_over(collector: RunningCollector, protocol: str):
    root_name = f"answer_over_{protocol}"
    _send(collector, protocol, root_name)

    [summary] = [t for t in _traces(collector, "acme") if t["root_name"] == root_name]
    assert summary["span_count"] == 4  # workflow, two stages, one llm call
    assert summary["user_id"] == "user-7" and summary["session_id"] == "session-1"
    assert summary["input_tokens"] == 1200 and summary["output_tokens"] == 300
    assert summary["cost_usd"] > 0  # priced from the bundled table, not sent by the app

    detail = httpx.get(
        f"{collector.http_endpoint}/api/v1/traces/{summary['trace_id']}",
        headers=collector.headers("acme"),
        timeout=10,
    ).json()
    llm_span = next(s for s in detail["spans"] if s["kind"] == "llm")
    assert llm_span["stage"] == "generate" and llm_span["model"] == "gpt-4o-mini"
    # The tenant comes from the key: the other tenant sees nothing of it.
    assert all(t["root_name"] != root_name for t in _traces(collector, "globex"))


LONG_PROMPTS_SCRIPT = textwrap.dedent(
    """
    import sys
    from glassline.instrumentation import init, llm, shutdown, workflow

    endpoint, protocol, api_key, name = sys.argv[1:5]
    init(service_name="e2e-rag", endpoint=endpoint, protocol=protocol, api_key=api_key)
    documents = [f"Document {i}: " + " ".join(f"clause-{i}-{j}" for j in range(1200))
                 for i in range(4)]  # about 15,000 characters each, under max_content_chars

    @llm(provider="openai", model="gpt-4o-mini")
    def generate(*, messages):
        return {"model": "gpt-4o-mini", "choices": [{"message": {"role": "assistant",
                "content": "See clause 7."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 8000, "completion_tokens": 5}}

    @workflow(name)
    def answer_all():
        for i in range(400):
            generate(messages=[{"role": "system", "content": documents[i % 4]},
                               {"role": "user", "content": documents[(i + 1) % 4]}])

    answer_all()
    shutdown()
    """
)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_burst_of_long_prompts_reaches_the_store_whole_over(
    collector: RunningCollector, protocol: str
) -> None:
    # 401 spans of about 30 KB: about 12 MB in one batch of the default size, over the
    # collector's 8 MB request limit, which refuses such a request whole.
    root_name = f"long_prompts_over_{protocol}"
    endpoint = (
        f"http://{collector.grpc_endpoint}" if protocol == "grpc" else collector.http_endpoint
    )
    app = [sys.executable, "-c", LONG_PROMPTS_SCRIPT, endpoint, protocol,
           collector.api_keys["acme"], root_name]  # fmt: skip
    subprocess.run(app, check=True, timeout=120)

    [summary] = [t for t in _traces(collector, "acme") if t["root_name"] == root_name]
    assert summary["span_count"] == 401
    assert summary["input_tokens"] == 400 * 8000


def test_dashboard_lists_the_trace(collector: RunningCollector, monkeypatch: pytest.MonkeyPatch):
    _send(collector, "grpc", "answer_for_dashboard")
    monkeypatch.setenv(ENV_DB_URL, collector.db_url)
    at = AppTest.from_file(dashboard_app.__file__, default_timeout=60)
    at.run()
    at.switch_page("views/traces.py").run()
    assert not at.exception, at.exception
    assert "answer_for_dashboard" in set(at.dataframe[0].value["root_name"])
