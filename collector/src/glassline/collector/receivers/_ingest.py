"""What both receivers do with an export once they have its bytes and its principal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from glassline.collector.auth import Principal
from glassline.collector.decode import DecodeResult, decode_json, decode_protobuf
from glassline.collector.metrics import Metrics
from glassline.collector.records import SpanRecord

__all__ = ["Consume", "Ingest"]

Consume = Callable[[Principal, list[SpanRecord]], object]
Encoding = Literal["protobuf", "json"]


class Ingest:
    """Decode, count, hand to ``consume`` (which returns once the batch is durable)."""

    def __init__(self, consume: Consume, metrics: Metrics, *, max_spans: int) -> None:
        self._consume = consume
        self._metrics = metrics
        self._max_spans = max_spans

    def export(
        self, transport: str, principal: Principal, body: bytes, encoding: Encoding
    ) -> DecodeResult:
        """Raises PermanentError for an unreadable request, RetryableError if not stored."""
        started = time.perf_counter()
        decode = decode_protobuf if encoding == "protobuf" else decode_json
        result = decode(body, principal.tenant, max_spans=self._max_spans)
        m = self._metrics
        m.received.labels(transport).inc(len(result.records) + result.rejected_count)
        m.accepted.inc(len(result.records))
        for reason, n in result.rejected.items():
            m.rejected.labels(reason).inc(n)
        if result.records:
            self._consume(principal, result.records)
        m.processing_seconds.observe(time.perf_counter() - started)
        return result
