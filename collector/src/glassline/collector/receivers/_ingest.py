"""What both receivers do with an export once they have its bytes and its principal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from glassline.collector.auth import Principal
from glassline.collector.decode import (
    DecodeResult,
    decode_json,
    decode_protobuf,
    decode_protobuf_slices,
)
from glassline.collector.logs.decode import LogsDecodeResult, decode_logs
from glassline.collector.metrics import Metrics
from glassline.collector.objects import MAX_OBJECTS
from glassline.collector.records import SpanRecord

__all__ = ["SLICE_BYTES", "Consume", "ConsumeLogs", "Ingest", "LogsIngest"]

Consume = Callable[[Principal, list[SpanRecord]], object]
ConsumeLogs = Callable[[Principal, LogsDecodeResult], object]
Encoding = Literal["protobuf", "json"]
# Bytes of spans decoded and stored at a time in a larger binary export. An SDK's batch (512
# LLM spans, ~0.6 MB) is one slice, decoded whole as before; an 8 MB export is ~8.
SLICE_BYTES = 1 << 20


class Ingest:
    """Traces: decode, count, hand to ``consume`` (which returns once the batch is durable)."""

    def __init__(
        self, consume: Consume, metrics: Metrics, *, max_spans: int, max_objects: int = MAX_OBJECTS,
        slice_bytes: int = SLICE_BYTES,
    ) -> None:  # fmt: skip
        self._consume = consume
        self._metrics = metrics
        self._max_spans = max_spans
        self._max_objects = max_objects
        self._slice_bytes = slice_bytes

    def export(
        self, transport: str, principal: Principal, body: bytes, encoding: Encoding
    ) -> DecodeResult:
        """Raises PermanentError for an unreadable request, RetryableError if not stored.

        A binary request over ``slice_bytes`` is decoded and handed on a slice at a time
        (:func:`decode_protobuf_slices`), each slice stored before the next is decoded: a
        slice's records are all that is held beside the body. Acknowledged still means
        durable, since the export is answered only once every slice is stored; if one fails,
        the client sends the whole export again and the store drops what it already had.
        The returned result holds the rejections, not the records.
        """
        started = time.perf_counter()
        limits = {"max_spans": self._max_spans, "max_objects": self._max_objects}
        if encoding == "protobuf" and len(body) > self._slice_bytes:
            slices = decode_protobuf_slices(
                body, principal.tenant, slice_bytes=self._slice_bytes, **limits
            )
        else:
            decode = decode_protobuf if encoding == "protobuf" else decode_json
            slices = iter((decode(body, principal.tenant, **limits),))
        answer = DecodeResult()
        for result in slices:
            self._count(transport, result)
            if result.records:
                self._consume(principal, result.records)
            answer.add_rejections(result)
            del result  # not kept while the next slice is decoded
        self._metrics.processing_seconds.observe(time.perf_counter() - started)
        return answer

    def _count(self, transport: str, result: DecodeResult) -> None:
        m = self._metrics
        m.received.labels(transport).inc(len(result.records) + result.rejected_count)
        m.accepted.inc(len(result.records))
        for reason, n in result.rejected.items():
            m.rejected.labels(reason).inc(n)

    @staticmethod
    def reply(result: DecodeResult) -> Message:
        """The ExportTraceServiceResponse for ``result``."""
        return _partial_success(ExportTraceServiceResponse(), "rejected_spans", result)


class LogsIngest:
    """Logs: decode GenAI events, count, hand to ``consume`` (returns once durable)."""

    def __init__(
        self,
        consume: ConsumeLogs,
        metrics: Metrics,
        *,
        max_records: int,
        max_objects: int = MAX_OBJECTS,
    ) -> None:
        self._consume = consume
        self._metrics = metrics
        self._max_records = max_records
        self._max_objects = max_objects

    def export(
        self, transport: str, principal: Principal, body: bytes, encoding: Encoding
    ) -> LogsDecodeResult:
        """Raises PermanentError for an unreadable request, RetryableError if not stored."""
        result = decode_logs(
            body,
            encoding,
            principal.tenant,
            max_records=self._max_records,
            max_objects=self._max_objects,
        )
        if result.events or result.evaluations:
            self._consume(principal, result)
        count = self._metrics.log_records.labels
        count(transport, "content").inc(len(result.events))
        count(transport, "evaluation").inc(len(result.evaluations))
        for reason, n in result.rejected.items():
            count(transport, reason).inc(n)
        return result

    @staticmethod
    def reply(result: DecodeResult) -> Message:
        """The ExportLogsServiceResponse for ``result``."""
        return _partial_success(ExportLogsServiceResponse(), "rejected_log_records", result)


_Reply = TypeVar("_Reply", ExportTraceServiceResponse, ExportLogsServiceResponse)


def _partial_success(reply: _Reply, rejected_field: str, result: DecodeResult) -> _Reply:
    """``reply`` with its ``partial_success`` filled when ``result`` rejected something."""
    if result.rejected:
        setattr(reply.partial_success, rejected_field, result.rejected_count)
        reply.partial_success.error_message = result.partial_message()
    return reply
