"""The collector's own Prometheus metrics, served on ``GET /metrics``.

Each collector gets its own registry, so several can live in one process (tests). With
``server.workers > 1`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start
and every worker reports the sum over all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Around the queue-wait budget (1 s) and an accepted export's 2 s target.
_ANSWER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 5, 10)


class Metrics:
    """Every metric the collector exports; names start with ``glassline_``."""

    def __init__(self) -> None:
        self._multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if self._multiprocess and values.ValueClass is values.MutexValue:
            # A forked worker inherits prometheus_client as imported before the supervisor set
            # the directory: pick the value class again, as a fresh import would have.
            # prometheus_client leaves this helper unannotated.
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "glassline_requests", "Export requests by transport and outcome.",
            ["transport", "outcome"], registry=r,
        )  # fmt: skip
        self.received = Counter(
            "glassline_spans_received", "Spans in export requests that were read.",
            ["transport"], registry=r,
        )  # fmt: skip
        self.accepted = Counter(
            "glassline_spans_accepted", "Spans that passed validation.", registry=r
        )
        self.rejected = Counter(
            "glassline_spans_rejected", "Spans rejected at decode, by reason.",
            ["reason"], registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "glassline_spans_dropped", "Spans a processor dropped on purpose.",
            ["processor"], registry=r,
        )  # fmt: skip
        self.stored = Counter("glassline_spans_stored", "Spans newly written.", registry=r)
        self.sdk_lost = Counter(
            "glassline_sdk_spans_lost",
            "Spans the apps' SDKs could not export (queue full, export failed), as they report.",
            ["tenant"], registry=r,
        )  # fmt: skip
        self.duplicates = Counter(
            "glassline_spans_duplicate", "Spans already stored (client retries).", registry=r
        )
        self.batch_failures = Counter(
            "glassline_batch_failures", "Batches failed (answered retryable), by step.",
            ["step"], registry=r,
        )  # fmt: skip
        self.log_records = Counter(
            "glassline_log_records",
            "OTLP log records read, by transport and outcome: content, evaluation, duplicate, "
            "or the reason they were rejected.",
            ["transport", "outcome"], registry=r,
        )  # fmt: skip
        self.traces_sampled = Counter(
            "glassline_traces_sampled", "Tail-sampling decisions, by decision and keeping policy.",
            ["decision", "policy"], registry=r,
        )  # fmt: skip
        self.redactions = Counter(
            "glassline_redactions",
            "PII entities redacted (REDACTION_FAILED: values failed closed), by entity type and "
            "placement (attribute, event, status, name, field, resource).",
            ["entity", "placement"], registry=r,
        )  # fmt: skip
        self.redaction_cache = Counter(
            "glassline_redaction_cache",
            "Texts looked up in the redaction result cache, by outcome (hit: not analysed again).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.step_seconds = Histogram(
            "glassline_step_seconds", "Time per batch in each pipeline step.",
            ["step"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.processing_seconds = Histogram(
            "glassline_processing_seconds", "Decode to durable commit, per request.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.refused = Counter(
            "glassline_requests_refused",
            "Exports refused by admission (retryable, with a retry hint), by the bound it protects.",
            ["bound"], registry=r,
        )  # fmt: skip
        self.answer_seconds = Histogram(
            "glassline_export_answer_seconds",
            "From an export's whole body handed over to its answer, by outcome (ok: stored; "
            "error: refused or failed after the hand-over): the collector's side of its latency.",
            ["outcome"], buckets=_ANSWER_BUCKETS, registry=r,
        )  # fmt: skip
        self.exports_run = Counter(
            "glassline_exports_run",
            "Export requests decoded and stored, by the worker that ran them.",
            ["worker"], registry=r,
        )  # fmt: skip
        self.query_reads = Counter(
            "glassline_query_reads",
            "Query API reads: served at once, waited for a slot, refused (429).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.inflight_requests = Gauge(
            "glassline_inflight_requests",
            "Export requests whose whole body is in: queued or being processed.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.receiving_requests = Gauge(
            "glassline_receiving_requests",
            "Export requests admitted and still receiving their body (server.max_receiving_requests).",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.inflight_bytes = Gauge(
            "glassline_inflight_bytes", "Bytes of export requests being processed.",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.alerts_waiting = Gauge(
            "glassline_alert_notifications_waiting",
            "Alerts a notifier is owed that its queue could not take yet, after the last pass.",
            ["notifier"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.alerts_waiting_age = Gauge(
            "glassline_alert_notifications_waiting_age_seconds",
            "How long the oldest alert a notifier is owed has waited, after the last pass.",
            ["notifier"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self._multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
