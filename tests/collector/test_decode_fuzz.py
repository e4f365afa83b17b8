"""decode.py under fuzzing: whatever arrives, the decoder returns or raises PermanentError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glassline.collector.decode import DecodeResult, decode_json, decode_protobuf
from glassline.collector.errors import PermanentError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_body() -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add()
    ss.scope.name = "scope"
    for i in range(1, 4):
        span = ss.spans.add(
            trace_id=bytes([i]) * 16, span_id=bytes([i]) * 8, name=f"span-{i}",
            start_time_unix_nano=10, end_time_unix_nano=20,
        )  # fmt: skip
        span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o"
        span.events.add(name="e", time_unix_nano=15)
    return request.SerializeToString()


VALID = _valid_body()


def _decodes_or_refuses(decode: Any, body: bytes) -> None:
    try:
        result = decode(body, "acme", max_spans=1000)
    except PermanentError as exc:
        assert exc.message
        return
    assert isinstance(result, DecodeResult)
    assert all(r.tenant == "acme" for r in result.records)
    assert all(len(r.trace_id) == 32 and len(r.span_id) == 16 for r in result.records)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_but_permanent_error(body: bytes) -> None:
    _decodes_or_refuses(decode_protobuf, body)
    _decodes_or_refuses(decode_json, body)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_valid_messages_keep_the_good_spans_or_refuse(edits: list) -> None:
    body = bytearray(VALID)
    for pos, byte in edits:
        body[pos] = byte
    _decodes_or_refuses(decode_protobuf, bytes(body))


@FUZZ
@given(st.integers(0, len(VALID)), st.binary(max_size=32))
def test_truncated_or_extended_messages_never_crash(cut: int, tail: bytes) -> None:
    _decodes_or_refuses(decode_protobuf, VALID[:cut] + tail)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_span_keys = st.sampled_from(
    ["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
     "endTimeUnixNano", "attributes", "events", "status", "links", "trace_id"]
)  # fmt: skip


@FUZZ
@given(st.lists(st.dictionaries(_span_keys, _json_values, max_size=8), max_size=4), _json_values)
def test_random_otlp_json_never_raises_anything_but_permanent_error(
    spans: list, resource: Any
) -> None:
    doc = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    _decodes_or_refuses(decode_json, json.dumps(doc).encode())


@FUZZ
@given(_json_values)
def test_random_json_documents_never_crash(doc: Any) -> None:
    _decodes_or_refuses(decode_json, json.dumps(doc).encode())
