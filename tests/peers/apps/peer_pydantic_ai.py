"""pydantic-ai agents traced through Logfire (logfire.instrument_pydantic_ai), OTLP/HTTP."""

from __future__ import annotations

import asyncio
import os

from _driver import FAKE_URL, HTTP, KEY, MODEL, QUESTIONS, report

os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = HTTP
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = f"authorization=Bearer {KEY}"

import logfire
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

logfire.configure(send_to_logfire=False, service_name="peer-pydantic-ai", console=False)
logfire.instrument_pydantic_ai()

model = OpenAIChatModel(
    MODEL, provider=OpenAIProvider(base_url=FAKE_URL + "/v1", api_key="sk-peer")
)
agent = Agent(model, name="support")


async def streamed() -> str:
    async with agent.run_stream(QUESTIONS["stream"]) as result:
        return "".join([text async for text in result.stream_text(delta=True)])


with logfire.span("handle request"):  # the app's own span; the agent runs inside it
    agent.run_sync(QUESTIONS["sync"])
    asyncio.run(agent.run(QUESTIONS["async"]))
    asyncio.run(streamed())
logfire.force_flush()
report("pydantic-ai-slim", transport="http")
