"""Traceloop / OpenLLMetry: Traceloop.init with its own OTLP/HTTP exporter; @workflow and @task.

``python traceloop.py anthropic`` makes the calls with the anthropic client instead.
"""

from __future__ import annotations

import sys

from _driver import HTTP, KEY, anthropic_calls, openai_calls, report
from traceloop.sdk import Traceloop
from traceloop.sdk.decorators import task, workflow

# The lines a user changes: the endpoint and its key header.
Traceloop.init(
    app_name="peer-traceloop",
    api_endpoint=HTTP,
    headers={"authorization": f"Bearer {KEY}"},
    disable_batch=True,
    telemetry_enabled=False,
)

calls = anthropic_calls if sys.argv[1:] == ["anthropic"] else openai_calls


@task(name="generate")
def generate(kind: str, call):
    return call()


@workflow(name="answer_question")
def answer() -> None:
    calls(generate)


answer()
report("traceloop-sdk", transport="http")
