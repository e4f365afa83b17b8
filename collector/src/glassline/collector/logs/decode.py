"""OTLP ExportLogsServiceRequest (protobuf or OTLP/JSON) -> GenAI content events.

Only GenAI events are kept: the content events of :mod:`.events` (which need the trace and
span ids of the call they belong to) and ``gen_ai.evaluation.result``. The event name is the
record's ``event_name`` field, else its ``event.name`` attribute. Every other record is
rejected with a reason and counted, never stored: the receiver answers them with an OTLP
``partial_success`` (``rejected_log_records``), which exporters log and do not retry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from google.protobuf.json_format import ParseDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from glassline.collector import _anyvalue
from glassline.collector._wire import WireError, length_delimited_fields, schema_of
from glassline.collector.decode import DecodeResult, check_count, check_wire_count
from glassline.collector.errors import PermanentError
from glassline.collector.logs.events import CONTENT_EVENTS, EVALUATION_EVENT, content_attributes
from glassline.collector.objects import MAX_OBJECTS, WireObjects, check_json_objects
from glassline.collector.otlp_json import json_list, json_objects, shown
from glassline.collector.records import MAX_NS, AttributeValue, ContentEvent, latest_ns
from glassline.semconv import attributes as attrs

__all__ = ["Evaluated", "LogsDecodeResult", "decode_logs"]

_EVENT_NAME_ATTRIBUTE = "event.name"
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_OBJECTS = WireObjects(schema_of(ExportLogsServiceRequest.DESCRIPTOR))


@dataclass(slots=True)
class LogsDecodeResult(DecodeResult):
    """Content events and evaluation records to store; the rest rejected, by reason."""

    events: list[ContentEvent] = field(default_factory=list)
    # gen_ai.evaluation.result records as (trace id, span id, time, attributes, body)
    evaluations: list[Evaluated] = field(default_factory=list)
    unit: ClassVar[str] = "log record"


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One ``gen_ai.evaluation.result`` record, as sent (the evaluation path reads it)."""

    trace_id: str | None
    span_id: str | None
    time_ns: int
    attributes: dict[str, AttributeValue]


def decode_logs(
    body: bytes, encoding: str, tenant: str, *, max_records: int, max_objects: int = MAX_OBJECTS
) -> LogsDecodeResult:
    """Decode a logs export for ``tenant``; raises PermanentError only if unreadable."""
    if encoding == "json":
        check_json_objects(body, max_objects)
        return _decode_json(body, tenant, max_records)
    check_wire_count(body, max_records, "log records")
    _OBJECTS.check(body, max_objects)
    try:
        request = ExportLogsServiceRequest.FromString(body)
    except (DecodeError, RecursionError):
        return _record_by_record(body, tenant, max_records)
    groups = [
        (_anyvalue.attributes(rl.resource.attributes), list(sl.log_records))
        for rl in request.resource_logs
        for sl in rl.scope_logs
    ]
    check_count(sum(len(records) for _, records in groups), max_records, "log records")
    result = LogsDecodeResult()
    for _, records in groups:
        _convert(records, tenant, result)
    return result


def _convert(records: Iterable[LogRecord], tenant: str, result: LogsDecodeResult) -> None:
    seq: dict[tuple[str, str], int] = {}  # records so far per span, to order same-time events
    latest = latest_ns()
    for record in records:
        try:
            _convert_one(record, tenant, result, seq, latest)
        except RecursionError:
            result.reject("malformed_log_record", "log record nested too deeply")


def _convert_one(
    record: LogRecord,
    tenant: str,
    result: LogsDecodeResult,
    seq: dict[tuple[str, str], int],
    latest: int,
) -> None:
    attributes = _anyvalue.attributes(record.attributes)
    name = record.event_name or attributes.get(_EVENT_NAME_ATTRIBUTE)
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if time_ns > MAX_NS:
        result.reject("invalid_timestamp", f"{str(name)[:64]!r}: a time after 2262")
        return
    if time_ns > latest:
        result.reject(
            "future_timestamp", f"{str(name)[:64]!r}: over a day after the collector's clock"
        )
        return
    trace_id = record.trace_id.hex() if _valid(record.trace_id, 16, _ZERO_TRACE) else None
    span_id = record.span_id.hex() if _valid(record.span_id, 8, _ZERO_SPAN) else None
    if name == EVALUATION_EVENT:
        if isinstance(attributes.get(attrs.GEN_AI_EVALUATION_NAME), str):
            result.evaluations.append(Evaluated(trace_id, span_id, time_ns, attributes))
        else:
            result.reject("no_evaluation_name", f"{name}: needs {attrs.GEN_AI_EVALUATION_NAME}")
        return
    if name not in CONTENT_EVENTS:
        what = f"event {str(name)[:64]!r}" if name else "a log record without an event name"
        result.reject("not_genai_event", f"{what} is not a GenAI event; only those are stored")
        return
    if trace_id is None or span_id is None:
        result.reject("no_span_context", f"{name}: a content event needs trace_id and span_id")
        return
    body = _anyvalue.value(record.body) if record.HasField("body") else None
    content = content_attributes(str(name), body, attributes)
    if not content:
        result.reject("no_content", f"{name}: carries no messages (content capture off?)")
        return
    key = (trace_id, span_id)
    n = seq[key] = seq.get(key, -1) + 1
    identity = f"{name}|{record.time_unix_nano}|{record.observed_time_unix_nano}|{n}"
    result.events.append(
        ContentEvent(
            tenant=tenant,
            trace_id=trace_id,
            span_id=span_id,
            event_id=hashlib.sha256(identity.encode()).hexdigest()[:32],
            name=str(name),
            time_ns=time_ns,
            seq=n,
            attributes=content,
        )
    )


def _valid(raw: bytes, size: int, zero: bytes) -> bool:
    return len(raw) == size and raw != zero


def _record_by_record(body: bytes, tenant: str, max_records: int) -> LogsDecodeResult:
    """Slow path: parse each record alone so one bad string costs one record."""
    try:
        blobs = [
            blob
            for rl in length_delimited_fields(body, 1)
            for sl in length_delimited_fields(rl, 2)
            for blob in length_delimited_fields(sl, 2)
        ]
    except WireError as exc:
        raise PermanentError(f"malformed protobuf: {exc}") from None
    check_count(len(blobs), max_records, "log records")
    result = LogsDecodeResult()
    records = []
    for blob in blobs:
        try:
            records.append(LogRecord.FromString(blob))
        except (DecodeError, RecursionError):
            result.reject("malformed_log_record", "log record is not valid OTLP (bad UTF-8?)")
    _convert(records, tenant, result)
    return result


# --- OTLP/JSON ------------------------------------------------------------------------------


def _decode_json(body: bytes, tenant: str, max_records: int) -> LogsDecodeResult:
    """OTLP/JSON, record by record: one the protobuf JSON mapping refuses (a NaN score, an id
    that is not hex) is rejected alone, where it refused every record of its request (400)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PermanentError(f"malformed JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise PermanentError("an OTLP/JSON request must be an object with 'resourceLogs'")
    result = LogsDecodeResult()
    items = [
        item
        for n, rl in json_objects(doc, "resourceLogs", "resource_logs", "resourceLogs", result)
        for m, sl in json_objects(
            rl, "scopeLogs", "scope_logs", f"resourceLogs[{n}].scopeLogs", result
        )
        for item in json_list(
            sl, "logRecords", "log_records", f"resourceLogs[{n}].scopeLogs[{m}].logRecords", result
        )
    ]
    check_count(len(items), max_records, "log records")
    if result.rejected and not items:
        raise PermanentError(str(result.first_error))  # nothing valid: a 200 reads as delivered
    records = []
    for item in items:
        try:
            records.append(_json_record(item))
        except PermanentError as exc:
            result.reject("malformed_log_record", exc.message)
    _convert(records, tenant, result)
    return result


def _json_record(item: Any) -> LogRecord:
    if not isinstance(item, dict):
        raise PermanentError(f"a log record must be a JSON object, got {shown(item)}")
    record = dict(item)
    for camel, snake in (("traceId", "trace_id"), ("spanId", "span_id")):
        value = record.pop(snake, record.get(camel))
        if value:
            record[camel] = _hex_to_b64(value, camel)
    try:
        parsed: LogRecord = ParseDict(record, LogRecord(), ignore_unknown_fields=True)
    except Exception as exc:  # json_format raises ParseError, TypeError, ValueError...
        raise PermanentError(f"log record is not valid OTLP/JSON: {str(exc)[:200]}") from None
    return parsed


def _hex_to_b64(value: Any, name: str) -> str:
    """OTLP/JSON ids are hex; the protobuf JSON mapping wants base64."""
    try:
        return base64.b64encode(binascii.unhexlify(value)).decode("ascii")
    except (binascii.Error, ValueError, TypeError):
        raise PermanentError(f"{name} is not hex: {str(value)[:40]!r}") from None
