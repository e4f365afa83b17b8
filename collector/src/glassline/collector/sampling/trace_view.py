"""One complete trace as tail-sampling policies see it: its tenant, id, summary and/or spans.

The spans are ``SpanRecord`` objects or rows of the ``spans`` table: anything with the span
fields (:class:`SpanLike`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["TYPED_KEYS", "SpanLike", "TraceSummaryLike", "TraceView", "duration_ms"]


class SpanLike(Protocol):
    """The span fields policies read; ``SpanRecord`` and ``spans`` rows both have them."""

    @property
    def parent_span_id(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def end_ns(self) -> int: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def service(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def fallback(self) -> bool: ...
    @property
    def cache_layer(self) -> str | None: ...
    @property
    def cache_hit(self) -> bool | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...


def duration_ms(span: SpanLike) -> float:
    return max(0, span.end_ns - span.start_ns) / 1e6


class TraceSummaryLike(Protocol):
    """The fields of a ``traces`` row that summary-only policies read."""

    @property
    def start_ns(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def cost_usd(self) -> float: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...


@dataclass(slots=True)
class TraceView:
    """One trace as the decider sees it after ``decision_wait``: its summary and/or spans.

    The decider loads the spans only when a configured policy needs them (see
    :func:`reads_spans`); the trace-level questions below prefer the summary when present.
    """

    tenant: str
    trace_id: str
    spans: Sequence[SpanLike] = field(default_factory=tuple)
    summary: TraceSummaryLike | None = None

    @property
    def start_ns(self) -> int:
        if self.summary is not None:
            return self.summary.start_ns
        return min((s.start_ns for s in self.spans), default=0)

    def is_error(self) -> bool:
        if self.summary is not None:
            return self.summary.status == "error"
        return any(s.status == "error" for s in self.spans)

    def root_duration_ms(self) -> float:
        """The root span's duration, or the trace's extent when the root never arrived."""
        if self.summary is not None:
            return self.summary.duration_ms
        for span in self.spans:
            if not span.parent_span_id:
                return duration_ms(span)
        if not self.spans:
            return 0.0
        return (max(s.end_ns for s in self.spans) - self.start_ns) / 1e6

    def cost_usd(self) -> float:
        if self.summary is not None:
            return self.summary.cost_usd or 0.0
        return sum(s.cost_usd or 0.0 for s in self.spans)

    def tokens(self, count: str) -> int:
        """``input``, ``output`` or ``total`` tokens of the trace."""
        if self.summary is not None:
            pairs = [(self.summary.input_tokens or 0, self.summary.output_tokens or 0)]
        else:
            pairs = [(s.input_tokens or 0, s.output_tokens or 0) for s in self.spans]
        if count == "input":
            return sum(i for i, _ in pairs)
        if count == "output":
            return sum(o for _, o in pairs)
        return sum(i + o for i, o in pairs)


# Attribute keys a policy matches on that spans hold as typed columns: key -> SpanLike field.
TYPED_KEYS = {"user": "user_id", "model": "model", "stage": "stage", "service": "service"}
