"""From decoded spans to a durable commit: processors in order, then the store.

``Pipeline.consume`` is the one callable receivers are given. It returns only after the store
committed the batch, so a receiver that answers success after it returns has made the
acknowledged spans durable. Any failure after decoding becomes a :class:`RetryableError`: the
client keeps its data and sends it again; the server never crashes on a bad batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from glassline.collector.auth import Principal
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.processors.base import Processor
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as attrs

__all__ = ["ConsumeResult", "Pipeline", "SpanSink", "stamp_api_key"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_B = TypeVar("_B", bound=Sequence[object])


class SpanSink(Protocol):
    """What the pipeline writes to: the store (``glassline.collector.storage.store.Store``)."""

    def write(self, batch: list[SpanRecord]) -> object: ...


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    stored: int
    duplicates: int
    dropped: int


class Pipeline:
    """Runs ``processors`` in order on each batch, then writes it to ``sink`` in one commit."""

    def __init__(
        self,
        processors: Sequence[Processor],
        sink: SpanSink | None,
        metrics: Metrics,
        *,
        retry_after_s: float = 1.0,
    ) -> None:
        self.processors = list(processors)
        self._sink = sink
        self._metrics = metrics
        self._retry_after_s = retry_after_s
        self._step_timers = {
            name: metrics.step_seconds.labels(name)
            for name in [p.name for p in self.processors] + ["store"]
        }

    def consume(self, principal: Principal, records: list[SpanRecord]) -> ConsumeResult:
        """Process and store ``records`` of ``principal``; raises RetryableError on failure."""
        self._count_sdk_losses(principal, records)
        # Stamped after the processors: the name comes from the config, not the payload, so
        # redaction has nothing to find in it (it masked a key named like an email), and each
        # new key's name was a text of its own for it to analyse; nor can the attribute limit
        # drop it from a span already at the limit.
        batch = self.process(records)
        stamp_api_key(principal, batch)
        dropped = len(records) - len(batch)
        if self._sink is None or not batch:
            return ConsumeResult(stored=0, duplicates=0, dropped=dropped)
        written = self.run_step("store", self._sink.write, batch)
        inserted = int(getattr(written, "inserted", len(batch)))
        duplicates = int(getattr(written, "duplicates", 0))
        sampled_out = int(getattr(written, "sampled_out", 0))  # counted in rollups, not kept
        if sampled_out:
            dropped += sampled_out
            self._metrics.dropped.labels("sampling").inc(sampled_out)
        self._metrics.stored.inc(inserted)
        self._metrics.duplicates.inc(duplicates)
        return ConsumeResult(stored=inserted, duplicates=duplicates, dropped=dropped)

    def _count_sdk_losses(self, principal: Principal, records: list[SpanRecord]) -> None:
        """Add what the SDKs report as lost (a span ``glassline.sdk.dropped_spans``) to the
        tenant's ``glassline_sdk_spans_lost`` counter: spans lost in the app, not here."""
        lost = sum(record.sdk_lost_spans for record in records)
        if lost:
            self._metrics.sdk_lost.labels(str(principal.tenant)).inc(lost)

    def process(self, records: list[SpanRecord]) -> list[SpanRecord]:
        """Run the processors only (no store); raises RetryableError if one fails."""
        batch = records
        for processor in self.processors:
            before = len(batch)
            batch = self.run_step(processor.name, processor.process, batch)
            if len(batch) < before:
                self._metrics.dropped.labels(processor.name).inc(before - len(batch))
        return batch

    def run_step(self, step: str, fn: Callable[[_B], _T], batch: _B) -> _T:
        """``fn(batch)`` timed as ``step``; any failure becomes a logged RetryableError."""
        started = time.perf_counter()
        try:
            result = fn(batch)
        except Exception as exc:
            self._metrics.batch_failures.labels(step).inc()
            # Only the type: a message may quote span content, which must never reach the logs.
            _log.error("pipeline step %s failed on a batch of %d records: %s",
                       step, len(batch), type(exc).__name__)  # fmt: skip
            if isinstance(exc, RetryableError):
                raise
            message = "storage is unavailable" if step == "store" else f"processing failed ({step})"
            raise RetryableError(
                f"{message}; the data was not accepted, retry later",
                retry_after_s=self._retry_after_s,
            ) from exc
        finally:
            self._step_timers[step].observe(time.perf_counter() - started)
        return result


def stamp_api_key(principal: Principal, records: list[SpanRecord]) -> None:
    """Attribute each span to the NAME of the key it came with (``glassline.api_key.name``).

    Like the tenant, it comes from the credential: a value the payload sent is replaced (or
    removed, for an export without a key), so a client cannot spend under another key's name.
    """
    name = principal.key_name
    for record in records:
        record.api_key = name
        if name is None:
            record.attributes.pop(attrs.API_KEY_NAME, None)
        else:
            record.attributes[attrs.API_KEY_NAME] = name
