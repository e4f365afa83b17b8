"""Builders of OTLP log records for the logs tests."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")


def any_value(value: Any) -> AnyValue:
    if isinstance(value, dict):
        kvs = [KeyValue(key=k, value=any_value(v)) for k, v in value.items()]
        return AnyValue(kvlist_value=KeyValueList(values=kvs))
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=str(value))


def log_record(
    name: str | None,
    body: Any = None,
    *,
    time_ns: int = 1_700_000_000_000_000_000,
    trace_id: bytes = TRACE,
    span_id: bytes = SPAN,
    attributes: dict[str, Any] | None = None,
    name_as_attribute: bool = False,
) -> LogRecord:
    attrs = dict(attributes or {})
    if name is not None and name_as_attribute:
        attrs["event.name"] = name
    record = LogRecord(
        observed_time_unix_nano=time_ns,
        trace_id=trace_id,
        span_id=span_id,
        event_name=name if name is not None and not name_as_attribute else "",
        attributes=[KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()],
    )
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return record


def logs_request(*records: LogRecord) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    scope.log_records.extend(records)
    return request


class LogHelpers:
    TRACE = TRACE.hex()
    SPAN = SPAN.hex()
    log_record = staticmethod(log_record)
    logs_request = staticmethod(logs_request)


@pytest.fixture
def lh() -> type[LogHelpers]:
    return LogHelpers
