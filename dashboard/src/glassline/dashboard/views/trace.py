"""Trace drilldown: waterfall, per-span details, chat messages, errors and trace totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from glassline.dashboard import data, formats, navigation, queries, spans, trace_charts, ui
from glassline.dashboard.markdown import literal
from glassline.pricing import format_usd
from glassline.semconv import attributes as attrs

ctx = ui.context()
st.title("Trace drilldown")

trace_id = st.query_params.get("trace", "")
typed = st.text_input(
    "Trace id", trace_id, placeholder="32 hex characters, or open one from Traces"
)
if typed.strip() != trace_id:
    st.query_params["trace"] = trace_id = typed.strip()
if not trace_id:
    st.page_link(
        "views/traces.py",
        label="Pick a trace from the list",
        icon=":material/list:",
        query_params=ctx.nav_params(),
    )
    st.stop()

detail = data.run(queries.get_trace, trace_id, st.query_params.get("tenant") or None)
if detail is None:
    st.warning(
        f"No trace `{trace_id}` for this tenant. It may be outside the retention period, "
        "dropped by sampling, or still arriving."
    )
    st.stop()

summary, span_rows = detail.trace, detail.spans
started = datetime.fromtimestamp(summary.start_ns / 1e9, UTC)
st.subheader(literal(summary.root_name) if summary.root_name else spans.NO_ROOT_YET)
st.caption(
    f"tenant **{literal(summary.tenant)}** · service {literal(summary.service or '-')} · user "
    f"{literal(summary.user_id or '-')} · session {literal(summary.session_id or '-')} · "
    f"started {started:%Y-%m-%d %H:%M:%S} UTC · trace `{summary.trace_id}`"
)
c: Sequence[DeltaGenerator] = st.columns(3)
c[0].metric("Duration", formats.fmt_ms(summary.duration_ms), border=True)
# The request's outcome is its root span's status; failed inner spans (a retried 429, a
# primary model that fell back) are counted apart, not turned into a failed request.
c[1].metric("Request outcome", spans.outcome(span_rows), border=True)
c[2].metric("Spans", f"{summary.span_count} ({summary.error_count} failed)", border=True)
c = st.columns(3)
c[0].metric("Cost", format_usd(summary.cost_usd), border=True)
c[1].metric("Tokens in / out", f"{summary.input_tokens:,} / {summary.output_tokens:,}", border=True)
c[2].metric("Cached input tokens", f"{summary.cache_read_tokens:,}", border=True)

frame = spans.waterfall_frame(span_rows)
if detail.next_offset is not None:
    st.caption(
        f"A long trace: the first {queries.SPANS_SHOWN:,} of its {summary.span_count:,} spans by "
        f"start time are drawn, and its failed spans from the rest (up to "
        f"{queries.FAILED_SHOWN:,}). The query API pages through all of them: "
        f"`GET /api/v1/traces/{summary.trace_id}?offset={detail.next_offset}`."
    )
st.plotly_chart(trace_charts.waterfall(frame))

by_id = {s["span_id"]: s for s in span_rows}
# Open the span that raised, else the first failing span, else the first LLM call.
default = next(
    (s["span_id"] for s in span_rows if spans.exceptions(s)),
    next(
        (s["span_id"] for s in span_rows if s["status"] == "error"),
        next((s["span_id"] for s in span_rows if s["kind"] == "llm"), frame["span_id"].iloc[0]),
    ),
)
order = list(frame["span_id"])
labels = dict(zip(frame["span_id"], frame["label"], strict=True))
chosen = st.selectbox("Span", order, index=order.index(default), format_func=labels.__getitem__)
span = by_id[chosen]

st.markdown(f"### {literal(span['name'])}")
c = st.columns(4)
c[0].metric("Duration", formats.fmt_ms(span["duration_ms"]))
c[1].metric("Kind", span["kind"])
c[2].metric("Cost", format_usd(span["cost_usd"]))
c[3].metric("Status", formats.fmt_status(span["status"]))

for error in spans.exceptions(span):
    st.error(f"**{literal(error['type'])}**: {literal(error['message'])}")
    if error["stacktrace"]:
        st.code(error["stacktrace"], language="text")
if span["status"] == "error" and not spans.exceptions(span) and span.get("status_message"):
    st.error(literal(span["status_message"]))

facts = {
    "model": span["model"],
    "provider": span["provider"],
    "operation": span["operation"],
    "stage": span["stage"],
    "input tokens": span["input_tokens"],
    "output tokens": span["output_tokens"],
    "cached input tokens": span["cache_read_tokens"],
    "reasoning tokens": span["reasoning_tokens"],
    "time to first token (ms)": span["ttft_ms"],
    "cache layer": span["cache_layer"],
    "cache hit": span["cache_hit"],
    "route": span["route"],
    "fallback": span["fallback"],
    "retries": span["retries"],
}
shown = {k: v for k, v in facts.items() if v not in (None, "", 0, False)}
if shown:
    values = [f"{v:,.1f}" if isinstance(v, float) else str(v) for v in shown.values()]
    st.dataframe(pd.DataFrame({"field": list(shown), "value": values}), hide_index=True)

attributes = span.get("attributes") or {}
conversation = [
    ("system", attributes.get(attrs.GEN_AI_SYSTEM_INSTRUCTIONS)),
    ("input", attributes.get(attrs.GEN_AI_INPUT_MESSAGES)),
    ("output", attributes.get(attrs.GEN_AI_OUTPUT_MESSAGES)),
]
if any(v for _, v in conversation):
    st.markdown("#### Prompt and completion (redacted at ingest)")
    for _, value in conversation:
        for message in spans.parse_messages(value):
            role = message.role if message.role in ("user", "assistant", "ai", "human") else None
            with st.chat_message(role or "system", avatar=None if role else ":material/settings:"):
                if not role:
                    st.caption(literal(message.role))
                for text in message.texts:
                    st.markdown(literal(text))
                for call in message.tool_calls:
                    st.code(call, language="text")

redacted = attributes.get(attrs.REDACTION_ENTITIES)
if isinstance(redacted, dict) and redacted:
    found = ", ".join(f"{n} {entity}" for entity, n in sorted(redacted.items()))
    st.caption(f"Redacted at ingest: {literal(found)}")

with st.expander("All attributes and events"):
    st.json(
        {
            "attributes": attributes,
            "events": span.get("events") or [],
            "resource": span.get("resource") or {},
        },
        expanded=1,
    )

# st.context.url is the page's address without its query string (None outside a browser).
base = (st.context.url or "").rsplit("/", 1)[0]
share = navigation.trace_url(ctx, trace_id, summary.tenant)
st.caption("Shareable link to this trace (trace id, tenant and time range):")
st.code(f"{base}/{share}" if base else share, language="text")
