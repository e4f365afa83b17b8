"""Pure functions from spans to trace summary rows (no I/O).

Spans of one trace may arrive in any order across several exports. The summary takes its
name, start and duration from the root span once it has arrived; until then it spans the
earliest start to the latest end seen. Counts, tokens and cost are sums over the spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from glassline.collector.records import SpanRecord

__all__ = ["TraceDelta", "TraceKey", "merge_trace_row", "new_trace_row", "trace_deltas"]

TraceKey = tuple[str, str]  # tenant, trace_id
_SUMS = ("span_count", "error_count", "input_tokens", "output_tokens", "cache_read_tokens")


@dataclass(slots=True)
class TraceDelta:
    """What a set of new spans of one trace adds to its summary."""

    root: SpanRecord | None = None
    start_ns: int = 0
    end_ns: int = 0
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SUMS, 0))
    cost_usd: float = 0.0
    models: set[str] = field(default_factory=set)
    stages: set[str] = field(default_factory=set)
    user_id: str | None = None
    session_id: str | None = None
    service: str | None = None

    def add(self, span: SpanRecord) -> None:
        if self.sums["span_count"] == 0:
            self.start_ns, self.end_ns = span.start_ns, span.end_ns
        else:
            self.start_ns = min(self.start_ns, span.start_ns)
            self.end_ns = max(self.end_ns, span.end_ns)
        if span.is_root:
            self.root = span
        s = self.sums
        s["span_count"] += 1
        s["error_count"] += span.is_error
        s["input_tokens"] += span.input_tokens
        s["output_tokens"] += span.output_tokens
        s["cache_read_tokens"] += span.cache_read_tokens
        self.cost_usd += span.cost_usd or 0.0
        if span.model:
            self.models.add(span.model)
        if span.stage:
            self.stages.add(span.stage)
        # The root's user/session win; otherwise the first span that has one.
        if span.user_id and (span.is_root or not self.user_id):
            self.user_id = span.user_id
        if span.session_id and (span.is_root or not self.session_id):
            self.session_id = span.session_id
        if span.service and (span.is_root or not self.service):
            self.service = span.service


def trace_deltas(spans: Iterable[SpanRecord]) -> dict[TraceKey, TraceDelta]:
    deltas: dict[TraceKey, TraceDelta] = {}
    for span in spans:
        key = (span.tenant, span.trace_id)
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = TraceDelta()
        delta.add(span)
    return deltas


def _span_bounds(delta: TraceDelta) -> tuple[int, int]:
    if delta.root is not None:
        return delta.root.start_ns, delta.root.end_ns
    return delta.start_ns, delta.end_ns


def new_trace_row(key: TraceKey, delta: TraceDelta, now_ns: int) -> dict[str, Any]:
    start, end = _span_bounds(delta)
    root = delta.root
    return {
        "tenant": key[0],
        "trace_id": key[1],
        "root_span_id": root.span_id if root else None,
        "root_name": root.name if root else None,
        "service": delta.service,
        "start_ns": start,
        "end_ns": end,
        "duration_ms": max(0, end - start) / 1e6,
        "status": "error" if delta.sums["error_count"] else "ok",
        "user_id": delta.user_id,
        "session_id": delta.session_id,
        **delta.sums,
        "cost_usd": delta.cost_usd,
        "models": sorted(delta.models),
        "stages": sorted(delta.stages),
        "last_seen_ns": now_ns,
    }


def merge_trace_row(existing: Mapping[str, Any], delta: TraceDelta, now_ns: int) -> dict[str, Any]:
    """The updated summary of a stored trace after ``delta``'s spans were inserted."""
    row: dict[str, Any] = {k: (existing[k] or 0) + v for k, v in delta.sums.items()}
    # Every row carries every column: rows of one batch are sent as one executemany UPDATE,
    # so a row that lacks a key its neighbours have would fail the whole batch.
    row.update(root_span_id=existing["root_span_id"], root_name=existing["root_name"])
    root = delta.root
    if root is not None:
        start, end = root.start_ns, root.end_ns
        row.update(root_span_id=root.span_id, root_name=root.name)
    elif existing["root_span_id"]:
        start, end = existing["start_ns"], existing["end_ns"]
    else:
        start = min(existing["start_ns"], delta.start_ns)
        end = max(existing["end_ns"], delta.end_ns)
    row.update(start_ns=start, end_ns=end, duration_ms=max(0, end - start) / 1e6)
    row["status"] = "error" if row["error_count"] else "ok"
    row["cost_usd"] = (existing["cost_usd"] or 0.0) + delta.cost_usd
    row["models"] = sorted(set(existing["models"] or ()) | delta.models)
    row["stages"] = sorted(set(existing["stages"] or ()) | delta.stages)
    root_wins = root is not None
    for name in ("user_id", "session_id", "service"):
        mine = getattr(delta, name)
        row[name] = mine if mine and (root_wins or not existing[name]) else existing[name]
    row["last_seen_ns"] = max(existing["last_seen_ns"] or 0, now_ns)
    return row
