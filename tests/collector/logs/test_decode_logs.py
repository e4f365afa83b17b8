"""logs/decode.py: OTLP logs -> content events; everything that is not a GenAI event rejected."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from glassline.collector.errors import PermanentError
from glassline.collector.logs.decode import decode_logs


def decode(request: Any, encoding: str = "protobuf", max_records: int = 100) -> Any:
    if encoding == "json":
        doc = MessageToDict(request)
        for rl in doc.get("resourceLogs", []):  # OTLP/JSON ids are hex, not base64
            for sl in rl.get("scopeLogs", []):
                for record in sl.get("logRecords", []):
                    for key in ("traceId", "spanId"):
                        if key in record:
                            record[key] = base64.b64decode(record[key]).hex()
        return decode_logs(json.dumps(doc).encode(), "json", "acme", max_records=max_records)
    return decode_logs(request.SerializeToString(), "protobuf", "acme", max_records=max_records)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_content_events_are_kept_with_their_span_and_the_rest_rejected(
    lh: Any, encoding: str
) -> None:
    request = lh.logs_request(
        lh.log_record("gen_ai.user.message", {"content": "Hi"}),
        lh.log_record(
            "gen_ai.choice", {"index": 0, "message": {"content": "Yo"}}, name_as_attribute=True
        ),
        lh.log_record(None, "GET /health 200"),
        lh.log_record("browser.click", {"x": 1}),
        lh.log_record("gen_ai.user.message", {"content": "orphan"}, span_id=b""),
    )
    result = decode(request, encoding)
    assert [(e.name, e.trace_id, e.span_id, e.tenant) for e in result.events] == [
        ("gen_ai.user.message", lh.TRACE, lh.SPAN, "acme"),
        ("gen_ai.choice", lh.TRACE, lh.SPAN, "acme"),
    ]
    assert [e.seq for e in result.events] == [0, 1]
    assert result.rejected == {"not_genai_event": 2, "no_span_context": 1}
    message = result.partial_message()
    assert message.startswith("rejected 3 log record(s) (1 no_span_context, 2 not_genai_event)")
    assert "is not a GenAI event" in message


def test_a_resent_record_has_the_same_event_id_and_other_records_differ(lh: Any) -> None:
    records = [
        lh.log_record("gen_ai.user.message", {"content": "Hi"}, time_ns=5),
        lh.log_record("gen_ai.user.message", {"content": "Hi"}, time_ns=5),  # same time, next
        lh.log_record("gen_ai.user.message", {"content": "Hi"}, time_ns=6),
    ]
    first = [e.event_id for e in decode(lh.logs_request(*records)).events]
    again = [e.event_id for e in decode(lh.logs_request(*records)).events]
    assert first == again
    assert len(set(first)) == 3


def test_evaluation_results_go_to_the_evaluation_path_not_the_content(lh: Any) -> None:
    record = lh.log_record(
        "gen_ai.evaluation.result",
        attributes={"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 1},
    )
    result = decode(lh.logs_request(record))
    assert result.events == [] and result.rejected_count == 0
    [evaluation] = result.evaluations
    assert (evaluation.trace_id, evaluation.span_id) == (lh.TRACE, lh.SPAN)
    assert evaluation.attributes["gen_ai.evaluation.name"] == "relevance"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_record_timed_over_a_day_after_the_collectors_clock_is_rejected(
    lh: Any, encoding: str
) -> None:
    now, hour = time.time_ns(), 3600 * 10**9
    request = lh.logs_request(
        lh.log_record("gen_ai.user.message", {"content": "Hi"}, time_ns=now + hour),
        lh.log_record("gen_ai.user.message", {"content": "Hi"}, time_ns=now + 25 * hour),
    )
    result = decode(request, encoding)
    assert [e.time_ns for e in result.events] == [now + hour]
    assert result.rejected == {"future_timestamp": 1}


def test_too_many_records_is_413(lh: Any) -> None:
    request = lh.logs_request(*[lh.log_record("gen_ai.user.message", "x")] * 3)
    with pytest.raises(PermanentError) as caught:
        decode(request, max_records=2)
    assert caught.value.http_status == 413


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "must be an object"),
        (b'{"resourceLogs": {}}', "must be a list"),
    ],
)
def test_unreadable_json_is_a_permanent_error(body: bytes, message: str) -> None:
    with pytest.raises(PermanentError, match=message):
        decode_logs(body, "json", "acme", max_records=10)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"traceId": "zz"}, "traceId is not hex"),
        ({"attributes": [{"key": "s", "value": {"doubleValue": "NAN"}}]}, "not valid OTLP/JSON"),
        ({"timeUnixNano": "soon"}, "not valid OTLP/JSON"),
    ],
)
def test_a_json_record_the_mapping_refuses_costs_only_that_record(
    lh: Any, bad: dict[str, Any], message: str
) -> None:
    # It refused every record of its request (400), where a bad span costs only itself.
    good = MessageToDict(lh.log_record("gen_ai.user.message", {"content": "fine"}))
    for key in ("traceId", "spanId"):  # the protobuf JSON mapping's base64 -> OTLP's hex
        good[key] = base64.b64decode(good[key]).hex()
    records = [good, {**good, **bad}]
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]})
    result = decode_logs(body.replace('"NAN"', "NaN").encode(), "json", "acme", max_records=10)
    assert len(result.events) == 1
    assert result.rejected == {"malformed_log_record": 1}
    assert message in result.partial_message()


@pytest.mark.parametrize(
    ("bad", "place"),
    [
        (1, "resourceLogs[0] must be an object, got 1"),
        ({"scopeLogs": 5}, "resourceLogs[0].scopeLogs must be a list, got 5"),
        ({"scopeLogs": [None]}, "resourceLogs[0].scopeLogs[0] must be an object, got null"),
        ({"scopeLogs": [{"logRecords": {}}]}, "resourceLogs[0].scopeLogs[0].logRecords must be"),
    ],
)
def test_a_json_item_of_the_wrong_shape_costs_only_itself_naming_its_place(
    lh: Any, bad: Any, place: str
) -> None:
    # One such item answered 400 for the whole request; traces already answered this way.
    good = MessageToDict(lh.logs_request(lh.log_record("gen_ai.user.message", {"content": "a"})))
    good = good["resourceLogs"][0]
    for key in ("traceId", "spanId"):  # the protobuf JSON mapping's base64 -> OTLP's hex
        record = good["scopeLogs"][0]["logRecords"][0]
        record[key] = base64.b64decode(record[key]).hex()
    beside = json.dumps({"resourceLogs": [bad, good]}).encode()
    result = decode_logs(beside, "json", "acme", max_records=10)
    assert len(result.events) == 1
    assert result.rejected_count == 0  # it held no record to count
    assert place in result.partial_message()
    alone = json.dumps({"resourceLogs": [bad]}).encode()
    with pytest.raises(PermanentError, match=re.escape(place)):  # nothing to deliver
        decode_logs(alone, "json", "acme", max_records=10)


def test_a_json_record_that_is_no_object_is_one_rejected_record(lh: Any) -> None:
    good = MessageToDict(lh.log_record("gen_ai.user.message", {"content": "fine"}))
    for key in ("traceId", "spanId"):
        good[key] = base64.b64decode(good[key]).hex()
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [7, good]}]}]})
    result = decode_logs(body.encode(), "json", "acme", max_records=10)
    assert len(result.events) == 1
    assert result.rejected == {"malformed_log_record": 1}
    assert "a log record must be a JSON object, got 7" in result.partial_message()


def test_a_record_with_bad_utf8_costs_only_that_record(lh: Any) -> None:
    request = lh.logs_request(
        lh.log_record("gen_ai.user.message", {"content": "fine"}),
        lh.log_record("gen_ai.user.message", {"content": "BAD"}),
    )
    body = request.SerializeToString().replace(b"BAD", b"\xff\xfe\xfd")  # same length
    result = decode_logs(body, "protobuf", "acme", max_records=10)
    assert len(result.events) == 1
    assert result.rejected == {"malformed_log_record": 1}


def test_garbage_protobuf_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="malformed protobuf"):
        decode_logs(b"\x0a\xff\xff\xff", "protobuf", "acme", max_records=10)


def test_an_evaluation_without_a_name_is_rejected(lh: Any) -> None:
    record = lh.log_record("gen_ai.evaluation.result",
                           attributes={"gen_ai.evaluation.score.value": 1})  # fmt: skip
    result = decode(lh.logs_request(record))
    assert result.evaluations == [] and result.rejected == {"no_evaluation_name": 1}
