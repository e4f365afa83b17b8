"""The README's quickstart, run as written: its trace reaches a real collector with tokens and cost.

The code block is taken from README.md as is; only the collector's address and API key in it
are replaced by the test collector's. The ``openai`` client finds the fake provider through
``OPENAI_BASE_URL``, as it would find the real API. The app process exits without calling
``shutdown()``, as the quickstart does: the spans are flushed at exit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from examples.fake_provider import FakeOpenAI
from glassline.collector.testing import RunningCollector, run_collector

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart: instrument an app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README's quickstart has no python block"
    return match.group(1)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> RunningCollector:
    with run_collector(tenants=("acme",), workdir=tmp_path_factory.mktemp("quickstart")) as c:
        yield c


def test_the_readme_quickstart_records_tokens_and_cost(collector: RunningCollector) -> None:
    code = quickstart_code()
    assert 'endpoint="http://localhost:4317"' in code and 'api_key="gl_live_..."' in code
    code = code.replace("http://localhost:4317", f"http://{collector.grpc_endpoint}")
    code = code.replace("gl_live_...", collector.api_keys["acme"])
    with FakeOpenAI() as provider:
        env = {**os.environ, "OPENAI_BASE_URL": provider.base_url, "OPENAI_API_KEY": "sk-fake"}
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)
        assert provider.requests == 1

    headers = collector.headers("acme")
    api = f"{collector.http_endpoint}/api/v1"
    [summary] = httpx.get(f"{api}/traces", headers=headers, timeout=10).json()["traces"]
    assert summary["root_name"] == "answer_question"
    assert summary["user_id"] == "user-42"
    assert summary["input_tokens"] > 0 and summary["output_tokens"] > 0
    assert summary["cost_usd"] > 0
    detail = httpx.get(f"{api}/traces/{summary['trace_id']}", headers=headers, timeout=10).json()
    [call] = [s for s in detail["spans"] if s["kind"] == "llm"]  # one span for the one call
    assert call["name"] == "chat gpt-4o-mini" and call["stage"] == "generate"
    assert call["input_tokens"] == summary["input_tokens"] and call["cost_usd"] > 0
