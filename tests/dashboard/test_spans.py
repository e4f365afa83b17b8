"""Drilldown helpers: waterfall order and depth, chat messages, exception events."""

from __future__ import annotations

import json

from glassline.dashboard.spans import exceptions, parse_messages, waterfall_frame


def _span(span_id: str, parent: str | None, start_ms: int, end_ms: int, name: str = "") -> dict:
    return {"span_id": span_id, "parent_span_id": parent, "name": name or span_id,
            "start_ns": start_ms * 1_000_000, "end_ns": end_ms * 1_000_000, "status": "ok",
            "kind": "other"}  # fmt: skip


def test_waterfall_puts_children_under_parents_in_start_order():
    spans = [
        _span("c2", "root", 50, 90),
        _span("root", None, 10, 100),
        _span("g1", "c1", 25, 30),
        _span("c1", "root", 20, 40),
        _span("orphan", "gone", 60, 70),  # parent never arrived: shown, not lost
    ]
    frame = waterfall_frame(spans)
    assert list(frame["span_id"]) == ["root", "c1", "g1", "c2", "orphan"]
    assert list(frame["depth"]) == [0, 1, 2, 1, 0]
    assert list(frame["offset_ms"]) == [0, 10, 15, 40, 50]
    assert frame.loc[frame["span_id"] == "c2", "duration_ms"].item() == 40


def test_spans_of_parent_cycles_are_shown_once_under_the_earliest():
    # Broken clients send them; the drilldown showed nothing of such a trace and failed.
    spans = [
        _span("root", None, 10, 100),
        _span("self", "self", 20, 30),  # its own parent
        _span("b", "a", 45, 50),
        _span("a", "b", 40, 60),  # a and b each other's
        _span("c", "a", 55, 58),
    ]
    frame = waterfall_frame(spans)
    assert list(frame["span_id"]) == ["root", "self", "a", "b", "c"]
    assert list(frame["depth"]) == [0, 0, 0, 1, 1]
    only_cycle = waterfall_frame([_span("self", "self", 20, 30)])
    assert list(only_cycle["span_id"]) == ["self"]


def test_waterfall_labels_draw_the_tree_with_non_breaking_indents():
    spans = [_span("root", None, 0, 100), _span("c1", "root", 10, 50), _span("g1", "c1", 20, 30)]
    frame = waterfall_frame(spans)
    labels = dict(zip(frame["span_id"], frame["label"], strict=True))
    assert labels["root"].startswith("root")
    assert labels["c1"].startswith("\u00a0└\u00a0c1")
    assert labels["g1"].startswith("\u00a0" * 3 + "\u00a0└\u00a0g1")
    # Plotly strips leading ASCII spaces from tick labels: the indent must not use them.
    assert not any(label.startswith(" ") for label in labels.values())


def test_semantic_convention_messages_become_chat_messages():
    value = json.dumps([
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"type": "tool_call", "id": "1", "name": "weather", "arguments": {"city": "Paris"}}]},
    ])  # fmt: skip
    messages = parse_messages(value)
    assert [m.role for m in messages] == ["system", "user", "assistant"]
    assert messages[1].texts == ["Weather in Paris?"]
    assert messages[2].tool_calls == ['weather({"city": "Paris"})']
    assert messages[2].finish_reason == "tool_calls"


def test_older_content_strings_and_raw_text_are_still_shown():
    old = parse_messages([{"role": "user", "content": "hi"}])
    raw = parse_messages("not json [REDACTED_EMAIL]")
    assert old[0].texts == ["hi"]
    assert raw[0].role == "raw" and raw[0].texts == ["not json [REDACTED_EMAIL]"]
    assert parse_messages(None) == []


def test_messages_nested_too_deep_are_shown_as_raw_text():
    value = "[" * 3_000 + '"hi"' + "]" * 3_000
    assert parse_messages(value)[0].role == "raw"
    assert parse_messages("[" * 600 + "]" * 600)[0].texts == ["[" * 600 + "]" * 600]


def test_exception_events_are_extracted():
    span = {"events": [
        {"name": "retry", "attributes": {}},
        {"name": "exception", "attributes": {"exception.type": "ValueError",
                                              "exception.message": "bad", "exception.stacktrace": "tb"}},
    ]}  # fmt: skip
    assert exceptions(span) == [{"type": "ValueError", "message": "bad", "stacktrace": "tb"}]


def test_spans_too_short_to_see_get_a_bar_of_a_hundredth_of_the_trace_inside_their_parent():
    us = 1_000
    spans = [
        _span("root", None, 10, 60),
        {**_span("zero", "root", 0, 0), "start_ns": 60_000_000, "end_ns": 60_000_000},  # at the end
        {**_span("tiny", "root", 0, 0), "start_ns": 10_100_000, "end_ns": 10_100_000 + 40 * us},
        _span("long", "root", 10, 11),
    ]
    frame = waterfall_frame(spans).set_index("span_id")
    assert frame.loc["zero", "duration_ms"] == 0  # the real duration is kept for labels
    assert frame.loc["zero", "bar_ms"] == 0.5  # a hundredth of the trace's 50 ms
    assert frame.loc["zero", "bar_offset_ms"] == 49.5  # moved left: it ends where root ends
    assert frame.loc["tiny", "bar_offset_ms"] == frame.loc["tiny", "offset_ms"] == 0.1
    assert frame.loc["tiny", "bar_ms"] == 0.5
    assert (frame.loc["long", "bar_offset_ms"], frame.loc["long", "bar_ms"]) == (0, 1)
    ends = frame["bar_offset_ms"] + frame["bar_ms"]
    assert (ends <= frame.loc["root", "bar_ms"]).all()


def test_a_sub_millisecond_trace_is_drawn_to_its_own_scale():
    """A cache hit answered in 0.12 ms: its root is drawn 0.12 ms long, not widened to a fixed
    minimum that made every span as long as the whole axis."""
    root = {**_span("root", None, 0, 0), "end_ns": 120_000}
    lookup = {**_span("lookup", "root", 0, 0), "start_ns": 10_000, "end_ns": 10_000}
    frame = waterfall_frame([root, lookup]).set_index("span_id")
    assert frame.loc["root", "bar_ms"] == frame.loc["root", "duration_ms"] == 0.12
    assert 0 < frame.loc["lookup", "bar_ms"] < 0.12 / 50


def test_a_trace_of_instants_still_gets_bars():
    frame = waterfall_frame([_span("root", None, 5, 5), _span("child", "root", 5, 5)])
    assert (frame["bar_ms"] > 0).all()
    assert (frame["bar_offset_ms"] == 0).all()
