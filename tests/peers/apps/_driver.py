"""The calls every peer app makes, inside that library's own venv (no Glassline code here).

Environment: ``PEER_FAKE_URL`` (the fake provider, ``http://127.0.0.1:<port>``), ``PEER_HTTP``
(the collector's OTLP/HTTP base URL), ``PEER_GRPC`` (``127.0.0.1:<port>``), ``PEER_KEY`` (this
library's tenant key). Each app prints one JSON line: the library's version and the calls made.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
QUESTIONS = {
    "sync": "peer question one (sync)",
    "async": "peer question two (async)",
    "stream": "peer question three (stream)",
}

FAKE_URL = os.environ["PEER_FAKE_URL"]
HTTP = os.environ["PEER_HTTP"]
GRPC = os.environ["PEER_GRPC"]
KEY = os.environ["PEER_KEY"]
BEARER = {"authorization": f"Bearer {KEY}"}


def messages(kind: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTIONS[kind]}]


def openai_calls(
    wrap: Callable[[str, Callable[[], Any]], Any] = lambda _name, call: call(),
) -> None:
    """One sync, one async and one streamed chat completion through the real openai client.

    ``wrap(kind, call)`` lets an app put its library's own spans (a workflow, a task) around
    each call.
    """
    import openai

    sync = openai.OpenAI(base_url=FAKE_URL + "/v1", api_key="sk-peer")
    aclient = openai.AsyncOpenAI(base_url=FAKE_URL + "/v1", api_key="sk-peer")

    wrap("sync", lambda: sync.chat.completions.create(model=MODEL, messages=messages("sync")))

    async def one_async() -> Any:
        return await aclient.chat.completions.create(model=MODEL, messages=messages("async"))

    wrap("async", lambda: asyncio.run(one_async()))

    def one_stream() -> tuple[str, Any]:
        stream = sync.chat.completions.create(
            model=MODEL,
            messages=messages("stream"),
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            usage = chunk.usage or usage
        return text, usage

    wrap("stream", one_stream)


def anthropic_calls(wrap: Callable[[str, Callable[[], Any]], Any] = lambda _n, c: c()) -> None:
    """One plain and one streamed message through the real anthropic client."""
    import anthropic

    client = anthropic.Anthropic(base_url=FAKE_URL, api_key="sk-ant-peer")
    wrap(
        "sync",
        lambda: client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=messages("sync")
        ),
    )

    def one_stream() -> str:
        with client.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=messages("stream")
        ) as stream:
            return "".join(stream.text_stream)

    wrap("stream", one_stream)


def report(distribution: str, **extra: Any) -> None:
    print(json.dumps({"library": distribution, "version": version(distribution), **extra}))
