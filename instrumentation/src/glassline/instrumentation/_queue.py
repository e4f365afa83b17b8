"""The export queue ``init`` installs: sized for LLM traffic, and no span is lost without a count.

A bounded queue and one export thread, as OpenTelemetry's ``BatchSpanProcessor``, with three
differences: every span that does not reach the collector is counted (queue full, export
failed, the queue left at shutdown), a full queue is logged at most once per
``LOG_INTERVAL_S`` with the count, and the count is sent to the collector on a span of its own
(``glassline.sdk.dropped_spans``) so the loss is visible where the data is. So for every
ended span: ``exported + dropped == ended`` once the queue is flushed.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from glassline.instrumentation import _safe
from glassline.instrumentation._span_size import approximate_bytes
from glassline.semconv import attributes as attrs

__all__ = [
    "DEFAULT_BATCH_BYTES",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_QUEUE_SIZE",
    "ExportStats",
    "SpanQueue",
]

# OpenTelemetry's default queue (2,048) overflows under a tight loop of LLM calls (measured:
# 18-49% of 10,000 spans lost); 20,480 held every one. A span with content is ~2-4 KB.
DEFAULT_QUEUE_SIZE = 20_480
DEFAULT_BATCH_SIZE = 1_024
# A collector refuses a request over its size limit whole: 8 MB by default in Glassline's,
# 4 MiB in the OpenTelemetry Collector's gRPC receiver. Under both, with room for the estimate.
DEFAULT_BATCH_BYTES = 3 * 1024 * 1024
DEFAULT_DELAY_S = 1.0
LOG_INTERVAL_S = 10.0
DROPPED_SPAN_NAME = attrs.SDK_DROPPED_SPANS  # the span and its count attribute
_SCOPE = InstrumentationScope("glassline.instrumentation", "0.1.0")
# The key OpenTelemetry's instrumentations check (its own BatchSpanProcessor sets it too), so
# the exporter's HTTP calls are not traced into the queue they empty.
_SUPPRESS = otel_context._SUPPRESS_INSTRUMENTATION_KEY

_log = logging.getLogger("glassline.instrumentation")


def _call_if_alive(method: weakref.WeakMethod[Any]) -> None:
    found = method()
    if found is not None:
        found()


@dataclass(frozen=True, slots=True)
class ExportStats:
    """Counts since the queue was created: ``exported + dropped + queued == ended``."""

    ended: int
    exported: int
    dropped: int
    queued: int


class SpanQueue(SpanProcessor):
    """Bounded span queue exported in batches by one thread; every lost span counted."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        resource: Resource,
        max_queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        delay_s: float = DEFAULT_DELAY_S,
    ) -> None:
        self._exporter = exporter
        self._resource = resource
        self._max = max_queue_size
        self._batch = min(batch_size, max_queue_size)
        self._batch_bytes = batch_bytes
        self._delay = delay_s
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()  # the counters
        self._export_lock = threading.Lock()  # one export at a time (thread, flush, shutdown)
        self._wake = threading.Event()
        self._stopping = False
        self._exported = self._dropped = self._in_flight = 0
        self._unreported = 0  # dropped, not yet told to the collector
        self._unlogged = 0
        self._logged_at = 0.0
        self._thread = self._start_thread()
        if hasattr(os, "register_at_fork"):  # a forked worker (gunicorn, celery) needs its own
            after_fork = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: _call_if_alive(after_fork))

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="glassline-export", daemon=True)
        thread.start()
        return thread

    def _after_fork(self) -> None:
        """In a forked child: fresh locks and thread; the parent's queued spans are its own."""
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._queue.clear()
        self._in_flight = 0
        if not self._stopping:
            self._thread = self._start_thread()

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        queue = self._queue
        if self._stopping or len(queue) >= self._max:
            self._drop(1, "queue full" if not self._stopping else "after shutdown")
            return
        queue.append(span)  # deque.append is atomic: no lock on the hot path
        if len(queue) >= self._batch:
            self._wake.set()

    def stats(self) -> ExportStats:
        """The counts so far."""
        with self._lock:
            queued = len(self._queue) + self._in_flight
            ended = self._exported + self._dropped + queued
            return ExportStats(ended, self._exported, self._dropped, queued)

    def _drop(self, count: int, why: str) -> None:
        with self._lock:
            self._dropped += count
            self._unreported += count
            self._unlogged += count
            now = time.monotonic()
            if now - self._logged_at < LOG_INTERVAL_S and self._logged_at:
                return
            self._logged_at, unlogged, self._unlogged = now, self._unlogged, 0
        _log.warning(
            "glassline: %d span(s) not exported (%s; queue of %d); %d lost since start. "
            "Raise init(max_queue_size=...) if this repeats.",
            unlogged, why, self._max, self._dropped,
        )  # fmt: skip

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay)
            self._wake.clear()
            self._export_all()

    def _export_all(self) -> None:
        with self._export_lock:
            queue = self._queue
            while queue:
                with self._lock:
                    batch = self._next_batch()
                    self._in_flight = len(batch)
                self._export(batch)
            self._report()

    def _next_batch(self) -> list[ReadableSpan]:
        """The queue's first spans, up to the batch's count and about its bytes (one at least).

        A batch of long prompts would be over a collector's request limit, refused whole.
        """
        queue = self._queue
        first = queue.popleft()
        batch, size = [first], approximate_bytes(first)
        while queue and len(batch) < self._batch:
            size += approximate_bytes(queue[0])
            if size > self._batch_bytes:
                break
            batch.append(queue.popleft())
        return batch

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        token = otel_context.attach(otel_context.set_value(_SUPPRESS, True))
        try:
            result = self._exporter.export(batch)
        except Exception as exc:
            _safe.report("span export", exc)
            result = SpanExportResult.FAILURE
        finally:
            otel_context.detach(token)
        report = bool(batch) and batch[0].name == DROPPED_SPAN_NAME
        with self._lock:
            self._in_flight = 0
            if result is SpanExportResult.SUCCESS and not report:
                self._exported += len(batch)
        if result is not SpanExportResult.SUCCESS and not report:
            self._drop(len(batch), "export failed")
        return result is SpanExportResult.SUCCESS

    def _report(self) -> None:
        """Tell the collector how many spans were lost since the last report (if any)."""
        with self._lock:
            count = self._unreported
        if not count:
            return
        if self._export([self._dropped_span(count)]):  # else: told with the next report
            with self._lock:
                self._unreported -= count

    def _dropped_span(self, count: int) -> ReadableSpan:
        now = time.time_ns()
        context = SpanContext(
            trace_id=random.getrandbits(128),
            span_id=random.getrandbits(64),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return ReadableSpan(
            name=DROPPED_SPAN_NAME,
            context=context,
            attributes={attrs.SPAN_KIND: attrs.SpanKinds.OTHER, DROPPED_SPAN_NAME: count},
            resource=self._resource,
            instrumentation_scope=_SCOPE,
            start_time=now,
            end_time=now,
        )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._export_all()
        return not self._queue

    def shutdown(self) -> None:
        """Export what is queued, then stop; spans ended later are counted as dropped."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._export_all()
        left = len(self._queue)
        if left:
            self._queue.clear()
            self._drop(left, "left at shutdown")
        try:
            self._exporter.shutdown()
        except Exception as exc:
            _safe.report("exporter shutdown", exc)
