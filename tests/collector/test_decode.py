"""decode.py: OTLP protobuf and JSON to SpanRecords, validated span by span."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from glassline.collector.decode import (
    DecodeResult,
    decode_json,
    decode_protobuf,
    decode_protobuf_slices,
)
from glassline.collector.errors import PermanentError

MAX = 10_000


def to_otlp_json(request: Any) -> dict[str, Any]:
    """OTLP/JSON per the spec: like proto3 JSON, but ids are hex rather than base64."""
    doc = MessageToDict(request)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        import base64

                        span[key] = base64.b64decode(span[key]).hex()
    return doc


def test_protobuf_span_becomes_a_record_with_hex_ids_and_typed_values(h: Any) -> None:
    span = h.make_span(7, trace=3, parent_span_id=(9).to_bytes(8, "big"))
    span.attributes.append(h.kv("ok", True))
    span.attributes.append(h.kv("ratio", 0.5))
    span.status.code = 2
    span.status.message = "boom"
    ev = span.events.add(name="retry", time_unix_nano=5)
    ev.attributes.append(h.kv("n", 2))
    result = decode_protobuf(h.make_request(span).SerializeToString(), "acme", max_spans=MAX)
    assert result.rejected_count == 0
    (record,) = result.records
    assert record.trace_id == (3).to_bytes(16, "big").hex()
    assert record.span_id == "0000000000000007"
    assert record.parent_span_id == "0000000000000009"
    assert record.otel_kind == "CLIENT"
    assert (record.status, record.status_message) == ("error", "boom")
    assert record.service == "app"
    assert record.attributes == {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        "ok": True,
        "ratio": 0.5,
    }
    assert record.events[0].name == "retry" and record.events[0].attributes == {"n": 2}


def test_tenant_comes_from_the_caller_never_from_the_payload(h: Any) -> None:
    span = h.make_span(1)
    span.attributes.append(h.kv("glassline.tenant.id", "globex"))
    request = h.make_request(span)
    request.resource_spans[0].resource.attributes.append(h.kv("glassline.tenant.id", "globex"))
    result = decode_protobuf(request.SerializeToString(), "acme", max_spans=MAX)
    assert [r.tenant for r in result.records] == ["acme"]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"trace_id": b"\x01" * 8}, "invalid_trace_id"),
        ({"trace_id": bytes(16)}, "invalid_trace_id"),
        ({"span_id": b""}, "invalid_span_id"),
        ({"parent_span_id": b"\x01\x02"}, "invalid_parent_span_id"),
        ({"start_time_unix_nano": 0}, "invalid_timestamp"),
        ({"end_time_unix_nano": 1}, "end_before_start"),
        ({"end_time_unix_nano": 2**64 - 1}, "invalid_timestamp"),
        # A clock in 2262: stored, it topped the newest-first list and retention never took it.
        ({"start_time_unix_nano": 2**63 - 2, "end_time_unix_nano": 2**63 - 1}, "future_timestamp"),
    ],
)
def test_a_bad_span_is_rejected_and_the_rest_kept(h: Any, overrides: dict, reason: str) -> None:
    request = h.make_request(h.make_span(1), h.make_span(2, **overrides), h.make_span(3))
    result = decode_protobuf(request.SerializeToString(), "acme", max_spans=MAX)
    assert [r.span_id[-1] for r in result.records] == ["1", "3"]
    assert dict(result.rejected) == {reason: 1}
    assert "rejected 1 span(s)" in result.partial_message()


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_span_may_start_up_to_a_day_after_the_collectors_clock(h: Any, encoding: str) -> None:
    now, hour = time.time_ns(), 3600 * 10**9
    starts = {1: now + hour, 2: now + 23 * hour, 3: now + 25 * hour, 4: now + 365 * 24 * hour}
    request = h.make_request(*[
        h.make_span(i, start_time_unix_nano=start, end_time_unix_nano=start + 10**9)
        for i, start in starts.items()
    ])  # fmt: skip
    if encoding == "json":
        result = decode_json(json.dumps(to_otlp_json(request)).encode(), "acme", max_spans=MAX)
    else:
        result = decode_protobuf(request.SerializeToString(), "acme", max_spans=MAX)
    assert [r.start_ns for r in result.records] == [starts[1], starts[2]]
    assert dict(result.rejected) == {"future_timestamp": 2}
    assert "over a day after the collector's clock" in result.partial_message()


def test_bad_utf8_in_one_span_costs_only_that_span(h: Any) -> None:
    marker = "ZZZZZZZZ"
    request = h.make_request(h.make_span(1), h.make_span(2, name=marker), h.make_span(3))
    body = request.SerializeToString().replace(marker.encode(), b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
    result = decode_protobuf(body, "acme", max_spans=MAX)
    assert [r.name for r in result.records] == ["span-1", "span-3"]
    assert dict(result.rejected) == {"malformed_span": 1}


def test_bad_utf8_in_the_resource_rejects_that_resources_spans(h: Any) -> None:
    request = h.make_request(h.make_span(1), h.make_span(2), service="QQQQ")
    body = request.SerializeToString().replace(b"QQQQ", b"\xff\xff\xff\xff")
    result = decode_protobuf(body, "acme", max_spans=MAX)
    assert result.records == []
    assert dict(result.rejected) == {"malformed_resource": 2}


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05ab", b"not protobuf at all \x00\x01"])
def test_unreadable_protobuf_is_a_permanent_error(body: bytes) -> None:
    with pytest.raises(PermanentError, match="malformed protobuf"):
        decode_protobuf(body, "acme", max_spans=MAX)


def test_too_many_spans_is_refused_with_413(h: Any) -> None:
    request = h.make_request(*(h.make_span(i) for i in range(1, 6)))
    with pytest.raises(
        PermanentError, match="request has more than 4 spans; the limit is 4"
    ) as caught:
        decode_protobuf(request.SerializeToString(), "acme", max_spans=4)
    assert caught.value.http_status == 413


def _field(number: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (``value`` under 128 bytes)."""
    assert len(value) < 128
    return bytes([number << 3 | 2, len(value)]) + value


def _groups(resources: int, scopes: int, spans: int) -> bytes:
    """A request of empty resources, each with ``scopes`` scopes of ``spans`` empty spans."""
    scope = _field(2, _field(2, b"") * spans) if spans else _field(2, b"")
    return _field(1, scope * scopes) * resources if scopes else _field(1, b"") * resources


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (_groups(1, 1, 5), "more than 4 spans"),
        (_groups(1, 8, 0), "more than 8 resource and scope groups"),
        (_groups(9, 0, 0), "more than 8 resource and scope groups"),
        (_groups(3, 1, 2), "more than 4 spans"),  # 6 spans over three resources
    ],
)
def test_too_many_items_are_refused_before_the_request_is_parsed(
    body: bytes, what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parse costs memory per message however small: 8 MB of empty spans (two bytes
    # each) took 668 MB, 4 million empty scopes were accepted after 8 s of parsing.
    from glassline.collector import decode

    def parse(body: bytes) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(decode.ExportTraceServiceRequest, "FromString", parse)
    with pytest.raises(PermanentError, match=what) as caught:
        decode_protobuf(body, "acme", max_spans=4)
    assert caught.value.http_status == 413


def test_a_group_among_unknown_fields_is_skipped_when_counting(h: Any) -> None:
    group = b"\xfb\x07" + b"\x08\x01" + b"\xfc\x07"  # field 127: start, a varint, end
    body = h.make_request(h.make_span(1)).SerializeToString() + group
    assert len(decode_protobuf(body, "acme", max_spans=MAX).records) == 1


@pytest.mark.parametrize("prefix", [b"", b"\x0a\x00"])
def test_groups_nested_past_the_recursion_limit_are_malformed_not_a_crash(prefix: bytes) -> None:
    # 100,000 group starts (one byte each) were skipped by recursion: a RecursionError out of
    # the span count, which the receivers answer as a bug (retryable), for ever.
    with pytest.raises(PermanentError, match="malformed protobuf: unterminated group"):
        decode_protobuf(prefix + b"\x0b" * 100_000, "acme", max_spans=MAX)


def test_unknown_protobuf_fields_are_ignored(h: Any) -> None:
    body = h.make_request(h.make_span(1)).SerializeToString() + b"\xf8\x07\x01"  # field 127
    assert len(decode_protobuf(body, "acme", max_spans=MAX).records) == 1


def test_nested_array_and_kvlist_values_are_kept(h: Any) -> None:
    span = h.make_span(1)
    attr = span.attributes.add(key="tags")
    attr.value.array_value.values.add(string_value="a")
    attr.value.array_value.values.add(int_value=2)
    kvl = span.attributes.add(key="meta")
    kvl.value.kvlist_value.values.add(key="k").value.string_value = "v"
    (record,) = decode_protobuf(
        h.make_request(span).SerializeToString(), "acme", max_spans=MAX
    ).records
    assert record.attributes["tags"] == ["a", 2]
    assert record.attributes["meta"] == {"k": "v"}


# --- OTLP/JSON ---------------------------------------------------------------------------------


def test_json_matches_protobuf_for_the_same_request(h: Any) -> None:
    span = h.make_span(5, parent_span_id=(4).to_bytes(8, "big"))
    span.status.code = 1
    request = h.make_request(span)
    from_json = decode_json(json.dumps(to_otlp_json(request)).encode(), "acme", max_spans=MAX)
    from_pb = decode_protobuf(request.SerializeToString(), "acme", max_spans=MAX)
    assert from_json.records == from_pb.records
    assert from_json.records[0].parent_span_id == "0000000000000004"


def test_json_accepts_int_values_as_strings_or_numbers_and_enum_names(h: Any) -> None:
    doc = to_otlp_json(h.make_request(h.make_span(1)))
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] = [
        {"key": "a", "value": {"intValue": "42"}},
        {"key": "b", "value": {"intValue": 43}},
    ]
    span["kind"] = "SPAN_KIND_SERVER"
    span["status"] = {"code": 2}
    span["somethingNew"] = {"x": 1}  # unknown fields are ignored
    (record,) = decode_json(json.dumps(doc).encode(), "acme", max_spans=MAX).records
    assert record.attributes == {"a": 42, "b": 43}
    assert (record.otel_kind, record.status) == ("SERVER", "error")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"traceId": "zz" * 16}, "invalid_trace_id"),
        ({"traceId": "ab" * 8}, "invalid_trace_id"),
        ({"spanId": 12}, "invalid_span_id"),
        ({"attributes": [{"key": "a", "value": {"intValue": "forty"}}]}, "malformed_span"),
        ({"startTimeUnixNano": [1]}, "malformed_span"),
    ],
)
def test_json_wrong_value_types_reject_one_span(h: Any, change: dict, reason: str) -> None:
    doc = to_otlp_json(h.make_request(h.make_span(1), h.make_span(2)))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1].update(change)
    result = decode_json(json.dumps(doc).encode(), "acme", max_spans=MAX)
    assert [r.span_id for r in result.records] == ["0000000000000001"]
    assert dict(result.rejected) == {reason: 1}


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b"\xff\xfe{}", b'{"resourceSpans": 5}', b"[" * 100_000],
)
def test_unreadable_json_is_a_permanent_error(body: bytes) -> None:
    with pytest.raises(PermanentError):
        decode_json(body, "acme", max_spans=MAX)


@pytest.mark.parametrize(
    ("bad", "place"),
    [
        ({"scopeSpans": 5}, "resourceSpans[0].scopeSpans must be a list, got 5"),
        ({"scopeSpans": [{"spans": "x"}]}, "resourceSpans[0].scopeSpans[0].spans must be a list"),
        ({"scopeSpans": [1]}, "resourceSpans[0].scopeSpans[0] must be an object, got 1"),
    ],
)
def test_a_json_list_that_is_no_list_costs_only_itself_naming_its_place(
    h: Any, bad: dict[str, Any], place: str
) -> None:
    # "scopeSpans": 5 answered 400 for the whole request, the good spans beside it included.
    good = to_otlp_json(h.make_request(h.make_span(1)))["resourceSpans"][0]
    result = decode_json(json.dumps({"resourceSpans": [bad, good]}).encode(), "acme",
                         max_spans=MAX)  # fmt: skip
    assert len(result.records) == 1
    assert result.rejected_count == 0  # it held no span to count
    assert place in result.partial_message()
    with pytest.raises(PermanentError, match=re.escape(place)):  # alone: nothing to deliver
        decode_json(json.dumps({"resourceSpans": [bad]}).encode(), "acme", max_spans=MAX)


def test_empty_json_request_has_no_spans() -> None:
    result = decode_json(b"{}", "acme", max_spans=MAX)
    assert result.records == [] and result.rejected_count == 0


def _length_delimited(field: int, payload: bytes) -> bytes:
    size, out = len(payload), b""
    while True:
        byte, size = size & 0x7F, size >> 7
        out += bytes([byte | 0x80 if size else byte])
        if not size:
            return bytes([(field << 3) | 2]) + out + payload


def test_a_protobuf_span_nested_too_deeply_is_rejected_as_such(h: Any) -> None:
    value = _length_delimited(1, b"x")  # AnyValue.string_value
    for _ in range(150):  # AnyValue.array_value -> ArrayValue.values -> AnyValue ...
        value = _length_delimited(5, _length_delimited(1, value))
    deep = h.make_span(2).SerializeToString() + _length_delimited(
        9, _length_delimited(1, b"k") + _length_delimited(2, value)
    )
    request = h.make_request(h.make_span(1)).SerializeToString()
    body = request + _length_delimited(1, _length_delimited(2, _length_delimited(2, deep)))
    result = decode_protobuf(body, "acme", max_spans=MAX)
    assert [r.span_id for r in result.records] == [(1).to_bytes(8, "big").hex()]
    assert result.rejected == {"nested_too_deeply": 1}
    assert "nested more than 100 levels" in result.partial_message()


def _two_resources_of_two_scopes(h: Any) -> Any:
    request = h.make_request(*[h.make_span(i, trace=i // 5 + 1) for i in range(1, 11)])
    request.resource_spans[0].scope_spans.add(scope={"name": "second"}).spans.extend(
        [h.make_span(i) for i in range(11, 16)]
    )
    other = h.make_request(*[h.make_span(i) for i in range(16, 30)], service="other")
    request.resource_spans.extend(other.resource_spans)
    request.resource_spans[1].scope_spans[0].spans[3].span_id = b""  # rejected alone
    return request


@pytest.mark.parametrize("bad_utf8", [False, True], ids=["valid", "bad-utf8-span"])
@pytest.mark.parametrize("slice_bytes", [1, 300, 1500, 10**9])
def test_slices_hold_the_records_and_rejections_of_a_whole_decode(
    h: Any, bad_utf8: bool, slice_bytes: int
) -> None:
    request = _two_resources_of_two_scopes(h)
    if bad_utf8:  # the whole parse fails, so the whole decode goes span by span too
        request.resource_spans[0].scope_spans[1].spans[2].name = "ZZZZZZZZ"
    body = request.SerializeToString().replace(b"ZZZZZZZZ", b"\xff" * 8)
    whole = decode_protobuf(body, "acme", max_spans=MAX)
    slices = list(decode_protobuf_slices(body, "acme", max_spans=MAX, slice_bytes=slice_bytes))
    assert [r for s in slices for r in s.records] == whole.records
    joined = DecodeResult()
    for piece in slices:
        joined.add_rejections(piece)
    assert joined.rejected == whole.rejected == {"invalid_span_id": 1, **(
        {"malformed_span": 1} if bad_utf8 else {})}  # fmt: skip
    assert joined.partial_message() == whole.partial_message()
    span_bytes = len(request.resource_spans[0].scope_spans[0].spans[0].SerializeToString())
    most = max(1, slice_bytes // span_bytes)  # spans of a slice: all of a size here
    assert all(len(s.records) + s.rejected_count <= most for s in slices)
    assert len(slices) == -(-29 // most)


def test_slices_are_refused_whole_before_the_first_as_a_whole_decode_is(h: Any) -> None:
    body = h.make_request(*[h.make_span(i) for i in range(1, 6)]).SerializeToString()
    with pytest.raises(PermanentError, match="more than 4 spans"):
        decode_protobuf_slices(body, "acme", max_spans=4, slice_bytes=1)
