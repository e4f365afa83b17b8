"""Pydantic Logfire: logfire.instrument_openai (or instrument_anthropic), OTLP/HTTP via env.

``python logfire.py anthropic`` makes the calls with the anthropic client instead.
"""

from __future__ import annotations

import os
import sys

from _driver import HTTP, KEY, anthropic_calls, openai_calls, report

# The lines a user changes: send to Glassline, not to Logfire's service.
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = HTTP
os.environ["OTEL_EXPORTER_OTLP_HEADERS"] = f"authorization=Bearer {KEY}"

import logfire

logfire.configure(send_to_logfire=False, service_name="peer-logfire", console=False)
anthropic_mode = sys.argv[1:] == ["anthropic"]
if anthropic_mode:
    logfire.instrument_anthropic()
else:
    logfire.instrument_openai()


def in_span(kind: str, call):
    with logfire.span("answer {kind}", kind=kind):
        return call()


(anthropic_calls if anthropic_mode else openai_calls)(in_span)
logfire.force_flush()
logfire.shutdown() if hasattr(logfire, "shutdown") else None
report("logfire-sdk", transport="http")
