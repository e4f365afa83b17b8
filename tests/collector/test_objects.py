"""objects.py: a request of more objects than its parse may allocate is refused before it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from glassline.collector import decode, objects
from glassline.collector._wire import count_messages, schema_of
from glassline.collector.decode import decode_json, decode_protobuf
from glassline.collector.errors import PermanentError
from glassline.collector.logs.decode import decode_logs
from glassline.collector.objects import MAX_OBJECTS, WireObjects, check_json_objects
from tests.collector.wire_bodies import delimited, in_a_span, nested_values

MANY = MAX_OBJECTS + 1_000
TRACES = schema_of(ExportTraceServiceRequest.DESCRIPTOR)


def _values(key: int) -> bytes:
    """An attribute whose value is an array (5) or kvlist (6) of ``MANY`` empty entries."""
    return delimited(9, delimited(1, b"k") + delimited(2, delimited(key, b"\x0a\x00" * MANY)))


# Each is 0.4-2 MB: one span, then two bytes per item. The runtime makes one message of each
# (25-230 bytes), so 1M empty events in one span took 3.4 s and 230 MB before any refusal.
HOSTILE_SPANS = {
    "events": b"\x5a\x00" * MANY,
    "links": b"\x6a\x00" * MANY,
    "attributes": b"\x4a\x00" * MANY,
    "array values": _values(5),
    "kvlist values": _values(6),
    "nested array values": nested_values(20, MANY),
    "event attributes": delimited(11, b"\x1a\x00" * MANY),
    "overlong keys": b"\xda\x00\x00" * MANY,  # events, each key a two-byte varint
}


def _never(*_: Any) -> None:
    raise AssertionError("parsed")


@pytest.mark.parametrize("inner", HOSTILE_SPANS.values(), ids=HOSTILE_SPANS)
def test_a_span_of_too_many_items_is_refused_before_it_is_parsed(
    inner: bytes, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode.ExportTraceServiceRequest, "FromString", _never)
    monkeypatch.setattr(decode.Span, "FromString", _never)  # the span-by-span path
    with pytest.raises(PermanentError, match=f"more than {MAX_OBJECTS} protobuf messages") as err:
        decode_protobuf(in_a_span(h, inner), "acme", max_spans=10)
    assert err.value.http_status == 413
    assert "limits.max_objects_per_request" in err.value.message


def test_the_limit_is_the_callers(h: Any) -> None:
    body = in_a_span(h, b"\x5a\x00" * 1_500)  # 1,500 events and the span's 7 other messages
    assert len(decode_protobuf(body, "acme", max_spans=10, max_objects=1_507).records) == 1
    with pytest.raises(PermanentError, match="more than 1506 protobuf messages"):
        decode_protobuf(body, "acme", max_spans=10, max_objects=1_506)


def test_a_log_record_of_too_many_items_is_refused_before_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from glassline.collector.logs import decode as logs_decode

    monkeypatch.setattr(logs_decode.ExportLogsServiceRequest, "FromString", _never)
    monkeypatch.setattr(logs_decode.LogRecord, "FromString", _never)
    body_kvlist = delimited(5, delimited(6, b"\x0a\x00" * MANY))
    for record in (b"\x32\x00" * MANY, body_kvlist):  # attributes; a body's kvlist entries
        with pytest.raises(PermanentError, match="protobuf messages") as err:
            decode_logs(
                delimited(1, delimited(2, delimited(2, record))), "protobuf", "acme", max_records=9
            )
        assert err.value.http_status == 413


JSON_ITEMS = b",".join([b"{}"] * MANY)


def _in_json_array(item: bytes) -> bytes:
    """One span whose attribute's arrayValue holds ``MANY`` of ``item``: not AnyValues, but
    json.loads makes an object of each and the JSON mapping a message."""
    return (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "n", "attributes": [{"key": "k",'
        b' "value": {"arrayValue": {"values": [' + b",".join([item] * MANY) + b"]}}}]}]}]}]}"
    )


HOSTILE_JSON = {
    "resources": b'{"resourceSpans": [' + JSON_ITEMS + b"]}",
    "spans": b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + JSON_ITEMS + b"]}]}]}",
    "arrays": b'{"resourceSpans": [' + b",".join([b"[]"] * MANY) + b"]}",
    "logs": b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [' + JSON_ITEMS + b"]}]}]}",
    # Strings and numbers: 60 bytes each parsed, a message each in the JSON mapping after.
    "strings": _in_json_array(b'"ab"'),
    "numbers": _in_json_array(b"1.5"),
    "keys": b'{"resourceSpans": [], "x": {'
    + b",".join(b'"%x": 0' % n for n in range(MANY))
    + b"}}",
}


@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON)
def test_json_of_too_many_items_is_refused_before_it_is_parsed(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.loads made ~70 bytes of each two-byte {}: 8 MB of them was 190 MB of Python objects;
    # 8 MB of "ab" in an arrayValue took 7-9 s and +187 MB before its span was rejected.
    monkeypatch.setattr(json, "loads", _never)
    with pytest.raises(
        PermanentError, match=f"more than {MAX_OBJECTS} JSON array items and object members"
    ) as err:
        if b"resourceLogs" in body:
            decode_logs(body, "json", "acme", max_records=10)
        else:
            decode_json(body, "acme", max_spans=10)
    assert err.value.http_status == 413


def test_braces_inside_json_strings_are_not_objects(h: Any) -> None:
    # Past the cheap bound (every {, [ and , of the body) the count skips strings: a prompt
    # of code or JSON is text, whatever it holds.
    text = '{"a": [' * (MANY // 2) + '\\ "'  # quotes and backslashes, escaped in the body
    span = {
        "traceId": "01" * 16, "spanId": "02" * 8, "name": "chat",
        "startTimeUnixNano": "1", "endTimeUnixNano": "2",
        "attributes": [{"key": "prompt", "value": {"stringValue": text}}],
    }  # fmt: skip
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    assert body.count(b"{") + body.count(b"[") > MAX_OBJECTS
    (record,) = decode_json(body, "acme", max_spans=10).records
    assert record.attributes["prompt"] == text


def test_a_real_batch_is_counted_with_byte_counts_alone(
    h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4,096 LLM spans with prompts (as bench.ingest makes them, 512 a batch): 4.9 MB, 86,000
    # messages, and 331,000 bytes that could start a message's key, below the limit: nothing
    # is walked.
    import random

    from bench.ingest import make_batch

    body = make_batch(random.Random(11)) * 8
    assert len(body) // 2 > MAX_OBJECTS  # the first bound does not settle it
    monkeypatch.setattr("glassline.collector.objects.count_messages", _never)
    assert len(decode_protobuf(body, "acme", max_spans=10_000).records) == 4096


def test_a_real_json_batch_is_counted_with_byte_counts_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same 4,096 LLM spans in OTLP/JSON (6.9 MB): 200,000 items and members, 440,000 {, [
    # and , in all (prompts hold commas): the byte counts settle it, nothing is walked.
    import random

    from bench.ingest import make_batch
    from tests.collector.test_decode import to_otlp_json

    request = ExportTraceServiceRequest.FromString(make_batch(random.Random(11)) * 8)
    body = json.dumps(to_otlp_json(request), separators=(",", ":")).encode()
    monkeypatch.setattr(objects, "_json_entries", _never)
    assert len(decode_json(body, "acme", max_spans=10_000).records) == 4096


def _entries_by_copy(body: bytes) -> int:
    """The count as it was made before: from a copy of the body without its strings."""
    outside = objects._JSON_STRING.sub(b"", body)
    return outside.count(b"{") + outside.count(b"[") + outside.count(b",")


_json_ish = st.lists(
    st.sampled_from([b'"', b"\\", b"{", b"[", b",", b":", b"a", b" ", b"\n", b'\\"', b'""']),
    max_size=80,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(_json_ish, st.integers(1, 12))
def test_the_json_count_is_the_count_outside_strings_of_the_whole_body(
    body: bytes, window_bits: int
) -> None:
    # Read in windows of 2-4096 bytes, so strings and escapes are cut at every place.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(objects, "_JSON_WINDOW", 1 << window_bits)
        assert objects._json_entries(body, 10**9) == _entries_by_copy(body)


def test_json_counting_stops_just_past_the_limit() -> None:
    body = b"[" + b",".join([b'"x,"'] * 5000) + b"]"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(objects, "_JSON_WINDOW", 64)
        assert 101 <= objects._json_entries(body, 100) < 130


def test_an_unended_string_is_counted_in_one_pass() -> None:
    # Past the first quote no later one ends a string: the scan that tried each in turn to the
    # end of the body took 24 s for 80 KB of '"\' (hours for a few MB), and the { and [ before
    # them made sure it ran.
    body = b"[" * 2_000 + b'"\\' * 1_000_000
    with pytest.raises(PermanentError, match="more than 1000 JSON array items"):
        check_json_objects(body, 1_000)
    assert objects._json_entries(body, 10**9) == 2_000


def test_the_exact_json_count_holds_no_copy_of_the_body() -> None:
    # The strings were taken out of a copy of the body, made of a piece for each gap between
    # strings: +247 MB for this 7.4 MB body (2.4 million pieces). A window holds ~300 KB.
    import tracemalloc

    body = b'{"resourceSpans": [' + b",".join([b'[{"k": "v"}]'] * 600_000) + b"]}"
    tracemalloc.start()
    try:
        with pytest.raises(PermanentError):
            check_json_objects(body, MAX_OBJECTS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak


def _messages(message: Message) -> int:
    """How many messages a parsed ``message`` holds below itself."""
    total = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        children = value if field.is_repeated else [value]
        total += sum(1 + _messages(child) for child in children)
    return total


_any_values = st.recursive(
    st.builds(AnyValue, string_value=st.text(max_size=8))
    | st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1))
    | st.builds(AnyValue, bytes_value=st.binary(max_size=8)),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda values: AnyValue(array_value={"values": values}))
        | st.lists(st.tuples(st.text(max_size=4), inner), max_size=4).map(
            lambda kvs: AnyValue(kvlist_value={"values": [{"key": k, "value": v} for k, v in kvs]})
        )
    ),
    max_leaves=12,
)
_attributes = st.lists(
    st.tuples(st.text(max_size=6), _any_values).map(lambda kv: {"key": kv[0], "value": kv[1]}),
    max_size=4,
)
_spans = st.builds(
    dict,
    name=st.text(max_size=6),
    attributes=_attributes,
    events=st.lists(st.builds(dict, name=st.text(max_size=4), attributes=_attributes), max_size=3),
    links=st.lists(st.builds(dict, trace_id=st.binary(max_size=16), attributes=_attributes),
                   max_size=2),
    status=st.just({}) | st.just({"message": "m"}),
)  # fmt: skip


def _request(spans: list[dict[str, Any]], scopes: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for _ in range(scopes):
        rs.scope_spans.add(spans=spans)
    return request


@settings(max_examples=200, deadline=None)
@given(st.lists(_spans, max_size=4), st.integers(0, 2))
def test_the_wire_count_is_the_number_of_messages_the_parse_makes(
    spans: list[dict[str, Any]], scopes: int
) -> None:
    request = _request(spans, scopes)
    body = request.SerializeToString()
    count = count_messages(body, TRACES, 10**9)
    assert count == _messages(ExportTraceServiceRequest.FromString(body))
    # The check's byte-count bound is a bound: never below the count.
    others = WireObjects(TRACES)._others
    assert len(body.translate(None, others)) >= count


@pytest.mark.parametrize("limit", [0, 1, 5])
def test_counting_stops_just_past_the_limit(limit: int) -> None:
    body = delimited(1, b"\x0a\x00" * 100)  # a resource span whose resource comes 100 times
    assert count_messages(body, TRACES, limit) == limit + 1


def test_broken_framing_inside_a_message_ends_only_its_count(h: Any) -> None:
    # A span whose events are cut short: the parse fails in that span, and the decoder
    # rejects that span alone, so the count must not refuse the request for it.
    good = h.make_span(1).SerializeToString()
    body = delimited(1, delimited(2, delimited(2, good) + delimited(2, b"\x5a\x05\x00")))
    # resource and scope spans, the good span and its 2 attributes' 4 messages, the bad span
    # and its event, whose key is read before its length is found past the end
    assert count_messages(body, TRACES, 10**9) == 2 + 5 + 2


def test_the_walk_of_a_large_real_body_stops_once_the_unread_bytes_cannot_pass_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4,096 LLM spans (4.9 MB): 86,000 messages, but 331,000 bytes that could start a key
    # (prompt text holds '"', '\n', '2'...), so under a limit of 200,000 the byte count does
    # not settle it: the walk reads on only until the messages so far and the unread bytes'
    # bound fit.
    import random

    from bench.ingest import make_batch

    body = make_batch(random.Random(11)) * 8
    counted: list[int] = []

    def counting(*args: Any) -> int:
        counted.append(count_messages(*args))
        return counted[-1]

    monkeypatch.setattr(objects, "count_messages", counting)
    decoded = decode_protobuf(body, "acme", max_spans=10_000, max_objects=200_000)
    assert len(decoded.records) == 4096
    assert counted and counted[0] < count_messages(body, TRACES, 10**9) * 0.6  # 55 %
