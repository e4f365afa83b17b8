"""LiteLLM's own OpenTelemetry callback (``litellm.callbacks = ["otel"]``), OTLP/HTTP via env.

``python peer_litellm.py anthropic`` calls the Anthropic model through LiteLLM instead (one plain
call and one stream: LiteLLM speaks Anthropic's API itself, without the anthropic client).
"""

from __future__ import annotations

import asyncio
import os
import sys

from _driver import ANTHROPIC_MODEL, FAKE_URL, HTTP, KEY, MODEL, messages, report

# The lines a user changes: send LiteLLM's spans to Glassline.
os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = HTTP
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = f"authorization=Bearer {KEY}"
os.environ["OTEL_SERVICE_NAME"] = "peer-litellm"

import litellm
from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
from litellm.litellm_core_utils.thread_pool_executor import executor as logging_threads
from opentelemetry import trace

litellm.callbacks = ["otel"]
anthropic_mode = sys.argv[1:] == ["anthropic"]
if anthropic_mode:
    OPTIONS = {"model": f"anthropic/{ANTHROPIC_MODEL}", "api_base": FAKE_URL, "max_tokens": 64}
    OPTIONS["api_key"] = "sk-ant-peer"
else:
    OPTIONS = {"model": f"openai/{MODEL}", "api_base": FAKE_URL + "/v1", "api_key": "sk-peer"}


def one_stream() -> str:
    stream = litellm.completion(
        **OPTIONS, messages=messages("stream"), stream=True, stream_options={"include_usage": True}
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


async def one_async() -> object:
    response = await litellm.acompletion(**OPTIONS, messages=messages("async"))
    # LiteLLM reports an async call from a task that queues it on a background worker of this
    # loop; asyncio.run() would close the loop first (the worker's exit-time flush runs after
    # the tracer provider is shut down, and the span is lost). Wait for both.
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))
    await GLOBAL_LOGGING_WORKER.flush()
    return response


litellm.completion(**OPTIONS, messages=messages("sync"))
if not anthropic_mode:
    asyncio.run(one_async())
one_stream()
logging_threads.shutdown(wait=True)  # sync calls are reported from these threads
trace.get_tracer_provider().shutdown()
report("litellm", transport="http")
