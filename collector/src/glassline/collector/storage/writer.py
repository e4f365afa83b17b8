"""One write transaction: insert new spans, then update trace summaries and rollups.

Only the spans this transaction actually inserted reach the summaries and rollups, so a
client retry, an overlapping batch or a second replica never counts a span twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from glassline.collector.records import SpanRecord
from glassline.collector.storage import content, rollup, search, search_text, seen, summary
from glassline.collector.storage._insert import PreparedInsert, insert_params, prepared_insert
from glassline.collector.storage._merge import add_rows, merge_rows
from glassline.collector.storage.evaluations import write_evaluations
from glassline.collector.storage.models import (
    ROLLUP_DIMENSIONS,
    DayRollup,
    HourRollup,
    Rollup,
    Span,
    Trace,
    UserRollup,
)

__all__ = [
    "SPAN_COLUMNS",
    "NameOf",
    "PreparedBatch",
    "SpanKey",
    "WriteResult",
    "add_to_rollups",
    "span_values",
    "write_batch",
    "write_spans",
]

_SPAN_KEY = ("tenant", "trace_id", "span_id")
SpanKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    duplicates: int


# The ``spans`` columns in the order of :func:`span_values`: the table's own.
SPAN_COLUMNS = tuple(column.name for column in Span.__table__.c)


def span_values(span: SpanRecord) -> tuple[Any, ...]:
    """The ``spans`` row of a record, its values in :data:`SPAN_COLUMNS` order: typed columns
    plus JSON for the rest. A tuple, not a mapping: built for every span written, and a
    35-key dict read back column by column was a tenth of a write's CPU time."""
    return (
        span.tenant,
        span.trace_id,
        span.span_id,
        span.parent_span_id or None,
        span.name,
        span.kind or "other",
        span.otel_kind,
        span.status,
        span.status_message,
        span.service,
        span.start_ns,
        span.end_ns,
        span.duration_ms,
        span.stage,
        span.operation,
        span.provider,
        span.model,
        span.user_id,
        span.session_id,
        span.input_tokens,
        span.output_tokens,
        span.cache_read_tokens,
        span.cache_creation_tokens,
        span.reasoning_tokens,
        span.cost_usd,
        span.cache_layer,
        span.cache_hit,
        span.route,
        span.fallback,
        span.retries,
        span.ttft_ms,
        span.attributes,
        [{"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes} for e in span.events]
        if span.events
        else _NO_EVENTS,
        span.resource,
    )


# One empty list for the spans without events (most): its JSON is then encoded once a batch.
_NO_EVENTS: list[dict[str, Any]] = []


class PreparedBatch:
    """A batch's distinct spans with their ``spans`` rows (as the driver's parameters) and
    search texts, made before its transaction: none of it needs the database. With SQLite
    every worker waits for the one write lock, and these were a third of a write's CPU time
    spent holding it; the parameters (the JSON of attributes, events and resource) another
    tenth of what was left."""

    __slots__ = ("insert", "params", "size", "spans", "texts")

    def __init__(self, batch: Sequence[SpanRecord], dialect: Dialect) -> None:
        self.size = len(batch)  # repeats included: they count as duplicates
        unique: dict[SpanKey, SpanRecord] = {}
        for span in batch:
            unique.setdefault((span.tenant, span.trace_id, span.span_id), span)
        # Sorted, so concurrent writers of overlapping batches take row locks in the same order.
        self.spans = {key: unique[key] for key in sorted(unique)}
        self.texts = {key: search_text.span_texts(span) for key, span in self.spans.items()}
        rows = [span_values(span) for span in self.spans.values()]
        self.insert: PreparedInsert | None = _span_insert(dialect) if rows else None
        self.params = dict(
            zip(self.spans, self.insert.values_params(rows) if self.insert else [], strict=True)
        )

    @classmethod
    def merge(cls, batches: Sequence[PreparedBatch]) -> PreparedBatch:
        """One batch of the spans of ``batches`` (made for one database), as if they had come
        in one (a span in several is taken from the first): nothing is made again."""
        first: dict[SpanKey, PreparedBatch] = {}
        for batch in batches:
            for key in batch.spans:
                first.setdefault(key, batch)
        merged = cls.__new__(cls)
        merged.size = sum(batch.size for batch in batches)
        merged.insert = next((b.insert for b in batches if b.insert is not None), None)
        merged.spans = {key: first[key].spans[key] for key in sorted(first)}
        merged.params = {key: first[key].params[key] for key in merged.spans}
        merged.texts = {key: first[key].texts[key] for key in merged.spans}
        return merged

    def changed(self, keys: Iterable[SpanKey]) -> None:
        """The spans of ``keys`` were changed in place: their rows and texts are made again."""
        for key in keys:
            span = self.spans.get(key)
            if span is not None:
                assert self.insert is not None  # made for the batch's first span
                self.params[key] = self.insert.values_params([span_values(span)])[0]
                self.texts[key] = search_text.span_texts(span)


NameOf = Callable[[SpanRecord], str]


def _span_name(span: SpanRecord) -> str:
    return span.name


def _once(dims: rollup.Dims) -> rollup.Dims:
    """``dims`` asked once per span: the store's bound takes a lock on every call."""
    known: dict[int, tuple[str, ...]] = {}

    def once(span: SpanRecord) -> tuple[str, ...]:
        found = known.get(id(span))
        if found is None:
            found = known[id(span)] = dims(span)
        return found

    return once


def _span_insert(dialect: Dialect) -> PreparedInsert:
    """The statement that inserts :func:`span_values` rows on ``dialect`` (compiled once)."""
    # No conflict target: with storage.partitioning the primary key also holds start_ns
    # (a resend has the same start, so it still conflicts); without, it is _SPAN_KEY.
    insert = prepared_insert(dialect, Span.__table__, _SPAN_KEY, SPAN_COLUMNS, any_conflict=True)
    if insert.names != SPAN_COLUMNS:  # the values are positional: the orders must agree
        raise AssertionError(f"the spans INSERT takes {insert.names}, not {SPAN_COLUMNS}")
    return insert


def _insert_spans(conn: Connection, batch: PreparedBatch) -> list[SpanKey]:
    """Insert spans not stored yet; returns the keys of those inserted, in order."""
    if batch.insert is None:
        return []
    keys = list(batch.params)
    inserted = insert_params(conn, batch.insert, keys, list(batch.params.values()))
    return [key for key in keys if key in inserted]


def add_to_rollups(
    conn: Connection,
    spans: Sequence[SpanRecord],
    trace_users: Mapping[tuple[str, str], str | None],
    dims: rollup.Dims = rollup.span_dims,
) -> None:
    """Count ``spans`` in the minute, hour, day and user rollups (inside the caller's transaction).

    The caller guarantees each span is counted once (``write_batch`` passes only the spans
    it inserted). ``trace_users`` gives each trace's user for spans that carry none; ``dims``
    a span's rollup dimensions (the store's bound on their distinct values).
    """
    minute = rollup.rollup_deltas(spans, 60, dims)
    # Hour and day rows from the minute deltas: each span is binned into a sketch once.
    for table, column, deltas in (
        (Rollup.__table__, "minute", minute),
        (HourRollup.__table__, "hour", rollup.coarsen(minute, 3600)),
        (DayRollup.__table__, "day", rollup.coarsen(minute, 86_400)),
    ):
        merge_rows(
            conn,
            table,
            (column, *ROLLUP_DIMENSIONS),
            deltas,
            partial(rollup.new_rollup_row, bucket_column=column),
            rollup.merge_rollup_row,
        )
    users = rollup.user_rollup_deltas(spans, trace_users)
    add_rows(
        conn,
        UserRollup.__table__,
        ("minute", "tenant", "user_id"),
        rollup.USER_COUNTERS,
        [rollup.new_user_row(key, delta) for key, delta in users.items()],
    )


def write_batch(
    conn: Connection,
    batch: PreparedBatch,
    now_ns: int,
    *,
    also_count: Sequence[SpanRecord] = (),
    also_count_users: Mapping[tuple[str, str], str | None] | None = None,
    dims: rollup.Dims = rollup.span_dims,
    name_of: NameOf = _span_name,
) -> WriteResult:
    """:func:`write_spans`, counted: how many of the batch's spans were new."""
    inserted = write_spans(
        conn,
        batch,
        now_ns,
        also_count=also_count,
        also_count_users=also_count_users,
        dims=dims,
        name_of=name_of,
    )
    return WriteResult(inserted=len(inserted), duplicates=batch.size - len(inserted))


def write_spans(
    conn: Connection,
    batch: PreparedBatch,
    now_ns: int,
    *,
    also_count: Sequence[SpanRecord] = (),
    also_count_users: Mapping[tuple[str, str], str | None] | None = None,
    dims: rollup.Dims = rollup.span_dims,
    name_of: NameOf = _span_name,
) -> list[SpanKey]:
    """Everything one batch changes, on a connection inside a write transaction; returns the
    keys of the spans it inserted (the others were stored already).

    ``also_count`` are spans counted in the rollups but not stored (sampled out; the caller
    has already deduplicated them); ``also_count_users`` gives their traces' users. They join
    the inserted spans in ONE rollup update, so each rollup row is read and written once.
    ``dims`` and ``name_of`` give a span's rollup dimensions and name as the store's bound on
    distinct values folds them.
    """
    with_content = content.attach_to_new_spans(conn, list(batch.spans.values()))
    batch.changed(with_content)  # given their stored messages
    inserted = _insert_spans(conn, batch)
    new = [batch.spans[key] for key in inserted]
    if with_content:
        content.mark_attached(conn, with_content.intersection(inserted))
    users = dict(also_count_users or {})
    if new:
        moved: list[summary.TraceKey] = []  # traces whose start this write moved to another hour

        def merged(row: Mapping[str, Any], delta: summary.TraceDelta) -> dict[str, Any]:
            out = summary.merge_trace_row(row, delta, now_ns)
            if seen.changes_hour(row["start_ns"], out["start_ns"]):
                moved.append((row["tenant"], row["trace_id"]))
            return out

        traces = merge_rows(
            conn,
            Trace.__table__,
            ("tenant", "trace_id"),
            summary.trace_deltas(new),
            lambda key, delta: summary.new_trace_row(key, delta, now_ns),
            merged,
        )
        users.update({key: row.get("user_id") for key, row in traces.items()})
        starts = {key: row["start_ns"] for key, row in traces.items()}
        texts = {key: batch.texts[key] for key in inserted}
        search.write_docs(conn, search_text.docs_for_texts(texts, starts))
        dims = _once(dims)  # the rollups ask again for the same spans
        costs = {key: row["cost_usd"] for key, row in traces.items()}
        seen.record(conn, new, starts, dims, name_of, moved, costs)
    if new or also_count:
        counted = [*new, *also_count]
        add_to_rollups(conn, counted, users, dims)
        # Evaluations ride with their span: stored and rolled up whether or not it is kept.
        evaluations = [e for span in counted for e in span.evaluations]
        if evaluations:
            write_evaluations(conn, evaluations)
    return inserted
