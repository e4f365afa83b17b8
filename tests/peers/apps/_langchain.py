"""The LangChain calls a peer app makes: a prompt | ChatOpenAI chain run sync, async and
streamed, against the fake provider (langchain-openai drives the real openai client)."""

from __future__ import annotations

import asyncio

from _driver import FAKE_URL, MODEL, QUESTIONS
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI


def langchain_calls(run_name: str = "answer") -> None:
    llm = ChatOpenAI(model=MODEL, base_url=FAKE_URL + "/v1", api_key="sk-peer", stream_usage=True)
    chain = (ChatPromptTemplate.from_messages([("user", "{question}")]) | llm).with_config(
        run_name=run_name
    )
    chain.invoke({"question": QUESTIONS["sync"]})
    asyncio.run(chain.ainvoke({"question": QUESTIONS["async"]}))
    "".join(str(chunk.content) for chunk in chain.stream({"question": QUESTIONS["stream"]}))
