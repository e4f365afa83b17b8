"""Langfuse (its OTel-based SDK) with its openai integration; only the host changes."""

from __future__ import annotations

import os

from _driver import HTTP, KEY, openai_calls, report

# The lines a user changes: the host, and a Glassline key as the secret key (Langfuse sends
# the pair as Basic credentials; the collector accepts a Glassline key as their password).
os.environ["LANGFUSE_HOST"] = HTTP
os.environ["LANGFUSE_PUBLIC_KEY"] = "pk-lf-glassline"
os.environ["LANGFUSE_SECRET_KEY"] = KEY

from langfuse import get_client, observe
from langfuse.openai import openai


@observe(name="generate", as_type="chain")
def generate(kind: str, call):
    return call()


@observe(name="answer_question")
def answer() -> None:
    openai_calls(generate)


answer()
get_client().flush()
get_client().shutdown()
assert openai  # the import patches the client
report("langfuse", transport="http")
