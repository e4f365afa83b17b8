"""OpenLIT: openlit.init with its own OTLP/HTTP exporters (its price list cannot be fetched)."""

from __future__ import annotations

import openlit
from _driver import HTTP, KEY, openai_calls, report

# The lines a user changes: the endpoint and its key header.
openlit.init(
    otlp_endpoint=HTTP,
    otlp_headers={"authorization": f"Bearer {KEY}"},
    application_name="peer-openlit",
    disable_batch=True,
    disable_metrics=True,
)
openai_calls()
report("openlit", transport="http")
