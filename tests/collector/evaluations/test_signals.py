"""Quality signals at ingest: each is an evaluation with a documented name, on its span."""

from __future__ import annotations

import json
from typing import Any

import pytest

from glassline.collector.processors import signals as signals_module
from glassline.collector.processors.signals import SIGNALS, SignalsProcessor
from glassline.collector.processors.signals import __doc__ as signals_doc
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as a

T0 = 1_790_000_000 * 1_000_000_000


def span(n: int = 1, *, kind: str = "llm", trace: str = "ab" * 16, **fields: Any) -> SpanRecord:
    attributes = fields.pop("attributes", {})
    return SpanRecord(tenant="acme", trace_id=trace, span_id=f"{n:016x}", name=f"s{n}",
                      start_ns=T0, end_ns=T0 + 10**9, kind=kind, stage="answer",
                      model="gpt-4o-mini", attributes=attributes, **fields)  # fmt: skip


def signals(*spans: SpanRecord) -> list[tuple[str, float | None]]:
    out = SignalsProcessor().process(list(spans))
    return [(e.name, e.score_value) for s in out for e in s.evaluations]


def text_output(content: str) -> str:
    return json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": content}]}])


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (span(attributes={a.GEN_AI_RESPONSE_FINISH_REASONS: ["length"]}),
         [("glassline.truncated", 1.0)]),
        (span(attributes={a.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"]}), []),
        (span(attributes={a.GEN_AI_RESPONSE_FINISH_REASONS: ["content_filter"],
                          a.GEN_AI_USAGE_OUTPUT_TOKENS: 0}),
         [("glassline.refusal", 1.0)]),
        (span(attributes={a.GEN_AI_USAGE_OUTPUT_TOKENS: 0}), [("glassline.empty", 1.0)]),
        (span(attributes={a.GEN_AI_OUTPUT_MESSAGES: text_output("  ")}),
         [("glassline.empty", 1.0)]),
        (span(attributes={a.GEN_AI_OUTPUT_MESSAGES: text_output("Rotate them.")}), []),
        (span(attributes={a.GEN_AI_USAGE_OUTPUT_TOKENS: 0}, status="error"), []),
        (span(kind="tool", status="error", attributes={a.GEN_AI_TOOL_NAME: "search"}),
         [("glassline.tool_error", 1.0)]),
        (span(retries=2), [("glassline.retries", 2.0)]),
        (span(fallback=True), [("glassline.fallback", 1.0)]),
        (span(), []),
    ],
)  # fmt: skip
def test_each_signal_is_emitted_when_it_happens(
    record: SpanRecord, expected: list[tuple[str, float]]
) -> None:
    assert signals(record) == expected


def tool_call(n: int, args: str, trace: str = "ab" * 16) -> SpanRecord:
    return span(n, kind="tool", trace=trace, attributes={
        a.GEN_AI_TOOL_NAME: "search", a.GEN_AI_TOOL_CALL_ARGUMENTS: args})  # fmt: skip


def loops(processor: SignalsProcessor, *spans: SpanRecord) -> list[float | None]:
    out = processor.process(list(spans))
    return [e.score_value for s in out for e in s.evaluations if e.name == "glassline.tool_loop"]


def test_the_same_tool_with_the_same_arguments_three_times_is_a_loop() -> None:
    found = signals(tool_call(1, '{"q":"x"}'), tool_call(2, '{"q":"x"}'),
                    tool_call(3, '{"q":"y"}'), tool_call(4, '{"q":"x"}', trace="cd" * 16),
                    tool_call(5, '{"q":"x"}'), tool_call(6, '{"q":"x"}'))  # fmt: skip
    assert found == [("glassline.tool_loop", 3.0), ("glassline.tool_loop", 4.0)]


def test_a_loop_spread_over_several_exports_is_seen() -> None:
    processor = SignalsProcessor()
    assert loops(processor, tool_call(1, '{"q":"x"}')) == []
    assert loops(processor, tool_call(2, '{"q":"x"}')) == []
    assert loops(processor, tool_call(3, '{"q":"x"}'), tool_call(4, '{"q":"x"}')) == [3.0, 4.0]


def test_a_resent_export_counts_no_call_twice() -> None:
    processor = SignalsProcessor()
    first = [tool_call(1, '{"q":"x"}'), tool_call(2, '{"q":"x"}')]
    assert loops(processor, *first) == []
    resent = [tool_call(1, '{"q":"x"}'), tool_call(2, '{"q":"x"}')]
    assert loops(processor, *resent) == []


def test_calls_of_long_forgotten_traces_are_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signals_module, "_TRACES_REMEMBERED", 2)
    processor = SignalsProcessor()
    loops(processor, tool_call(1, '{"q":"x"}'), tool_call(2, '{"q":"x"}'))
    loops(processor, tool_call(3, '{"q":"x"}', trace="cd" * 16))
    loops(processor, tool_call(4, '{"q":"x"}', trace="ef" * 16))  # the first trace is evicted
    assert loops(processor, tool_call(5, '{"q":"x"}')) == []
    assert loops(processor, tool_call(6, '{"q":"x"}', trace="ef" * 16),
                 tool_call(7, '{"q":"x"}', trace="ef" * 16)) == [3.0]  # fmt: skip


def test_a_signal_carries_its_spans_ids_and_dimensions() -> None:
    [record] = SignalsProcessor().process([span(7, retries=1)])[0].evaluations
    assert (record.trace_id, record.span_id, record.stage, record.model) == (
        "ab" * 16, f"{7:016x}", "answer", "gpt-4o-mini",
    )  # fmt: skip
    assert (record.source, record.score_label) == ("signal", "fail")
    assert record.id == f"{'ab' * 16}{7:016x}:glassline.retries"  # a resent span: same id


def test_every_signal_is_documented() -> None:
    assert signals_doc is not None
    assert all(f"``{name}``" in signals_doc for name in SIGNALS)
