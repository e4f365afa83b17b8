"""Index the traces stored before full-text search existed (revision ``0009_search``).

Since that revision every write indexes what it stores; the traces already in the store have
no search document. :func:`index_batch` gives a batch of them one document each, built from
all their stored spans (and their content events) exactly as a write would have built it:
read without a lock, then written in one short write transaction:

- **idempotent**: only traces without any document are indexed, so a second run, or a run
  over traces indexed by the collector meanwhile, writes nothing;
- **resumable**: each batch commits on its own; after a crash a new run skips what is done
  (one index probe per trace) and goes on;
- **safe beside ingest**: nothing is deleted, and a span written by the collector during the
  run brings its own document; a trace may then have two, which search reads as one.

Newest traces go first: the recent past is what users search, and the oldest trace left
without a document is how :func:`needs_backfill` knows the work is unfinished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, exists, func, select, tuple_

from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.storage import search, search_text
from glassline.collector.storage.models import SearchDoc, Span, SpanContent, Trace

__all__ = [
    "AUTO_LIMIT",
    "Found",
    "Progress",
    "find_batch",
    "needs_backfill",
    "run",
    "trace_count",
    "write_found",
]

# ``Store.open`` indexes a store with at most this many traces itself: about 2 s at the
# ~440 traces/s (11 spans each) measured on SQLite, once, at the upgrade.
AUTO_LIMIT = 1_000
_CHUNK = 200  # traces per IN (...) list: well under every database's parameter limit


@dataclass(frozen=True, slots=True)
class Found:
    """One batch: traces looked at, the documents of those without one, where it stopped."""

    checked: int
    docs: list[search_text.Doc]
    cursor_ns: int | None  # the start of the oldest trace looked at; None: nothing was left


@dataclass(slots=True)
class Progress:
    """Totals of a run so far, for a progress line."""

    total: int  # traces in the store when the run began
    checked: int = 0
    indexed: int = 0
    cursor_ns: int | None = None


def _unindexed() -> Any:
    d = SearchDoc.__table__.c
    return ~exists().where(d.tenant == Trace.tenant, d.trace_id == Trace.trace_id)


def needs_backfill(conn: Connection) -> bool:
    """Whether the oldest stored trace has no search document (two indexed reads)."""
    oldest = select(Trace.tenant, Trace.trace_id).order_by(Trace.start_ns).limit(1).subquery()
    query = select(Trace.trace_id).join(
        oldest, (Trace.tenant == oldest.c.tenant) & (Trace.trace_id == oldest.c.trace_id)
    )
    return conn.execute(query.where(_unindexed())).first() is not None


def trace_count(conn: Connection, limit: int | None = None) -> int:
    """Traces in the store (counting stops at ``limit``, to ask "more than N?" cheaply)."""
    query = select(Trace.start_ns)
    if limit is not None:
        query = query.limit(limit)
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def find_batch(conn: Connection, before_ns: int | None, size: int) -> Found:
    """The documents of the traces without one among the ``size`` newest that started before
    ``before_ns`` (all, if ``None``): reads only, so no write lock is held meanwhile.

    Traces that started in the same nanosecond as the batch's oldest are all in the batch, so
    the next batch (``before_ns=found.cursor_ns``) misses none.
    """
    starts = select(Trace.start_ns).order_by(Trace.start_ns.desc()).limit(size)
    if before_ns is not None:
        starts = starts.where(Trace.start_ns < before_ns)
    newest = conn.execute(starts).scalars().all()
    if not newest:
        return Found(0, [], None)
    lo = newest[-1]
    in_batch = Trace.start_ns >= lo
    if before_ns is not None:
        in_batch &= Trace.start_ns < before_ns
    checked = conn.execute(select(func.count()).select_from(Trace).where(in_batch)).scalar_one()
    todo = conn.execute(
        select(Trace.tenant, Trace.trace_id, Trace.start_ns).where(in_batch, _unindexed())
    ).all()
    starts_of = {(t.tenant, t.trace_id): t.start_ns for t in todo}
    keys = list(starts_of)
    docs = []
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        docs += search_text.docs_for_spans(_stored_spans(conn, chunk), starts_of)
        docs += search_text.docs_for_events(_content_events(conn, chunk, starts_of))
    return Found(int(checked), _one_per_trace(docs), lo)


def write_found(conn: Connection, docs: Sequence[search_text.Doc]) -> int:
    """Write the documents of traces that still have none (another run may have been first);
    inside the caller's write transaction, which this keeps short. Returns how many."""
    d = SearchDoc.__table__.c
    keys = [(doc.tenant, doc.trace_id) for doc in docs]
    taken: set[tuple[str, str]] = set()
    for i in range(0, len(keys), _CHUNK):
        found = select(d.tenant, d.trace_id).where(
            tuple_(d.tenant, d.trace_id).in_(keys[i : i + _CHUNK])
        )
        taken.update((r.tenant, r.trace_id) for r in conn.execute(found))
    return search.write_docs(conn, [doc for doc in docs if (doc.tenant, doc.trace_id) not in taken])


def _stored_spans(conn: Connection, keys: list[tuple[str, str]]) -> list[SpanRecord]:
    rows = conn.execute(
        select(
            Span.tenant, Span.trace_id, Span.span_id, Span.name, Span.start_ns, Span.end_ns,
            Span.status_message, Span.attributes, Span.events,
        ).where(tuple_(Span.tenant, Span.trace_id).in_(keys))
    )  # fmt: skip
    return [
        SpanRecord(
            r.tenant, r.trace_id, r.span_id, r.name or "", r.start_ns, r.end_ns,
            status_message=r.status_message, attributes=r.attributes or {},
            events=[
                SpanEvent(e.get("name", ""), e.get("time_ns", 0), e.get("attributes") or {})
                for e in r.events or []
            ],
        )
        for r in rows
    ]  # fmt: skip


def _content_events(
    conn: Connection, keys: list[tuple[str, str]], starts: dict[tuple[str, str], int]
) -> list[Any]:
    """Content events whose span never arrived (the others are in their span's attributes)."""
    rows = conn.execute(
        select(SpanContent.tenant, SpanContent.trace_id, SpanContent.attributes).where(
            tuple_(SpanContent.tenant, SpanContent.trace_id).in_(keys),
            SpanContent.attached.is_(False),
        )
    )
    return [
        _Event(r.tenant, r.trace_id, starts[(r.tenant, r.trace_id)], r.attributes or {})
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class _Event:
    """The fields of a content event that :func:`search_text.docs_for_events` reads."""

    tenant: str
    trace_id: str
    time_ns: int  # the trace's start, so the document sorts with its trace
    attributes: dict[str, Any]


def _one_per_trace(docs: list[search_text.Doc]) -> list[search_text.Doc]:
    merged: dict[tuple[str, str], search_text.Doc] = {}
    for doc in docs:
        key = (doc.tenant, doc.trace_id)
        if key in merged:
            first = merged[key]
            text = f"{first.text}\n{doc.text}"[: search_text.MAX_DOC_CHARS]
            doc = search_text.Doc(doc.tenant, doc.trace_id, first.start_ns, text)
        merged[key] = doc
    return list(merged.values())


def run(
    read: Callable[[Callable[[Connection], Found]], Found],
    write: Callable[[Callable[[Connection], int]], int],
    total: int,
    *,
    size: int = 500,
    on_batch: Callable[[Progress], None] | None = None,
) -> Progress:
    """Index every trace without a document, newest first, ``size`` traces per batch: each
    batch is read on a ``read`` connection, then written in one short ``write`` transaction
    (the store's retrying write). Returns the totals."""
    progress = Progress(total)
    while True:
        batch = read(partial(find_batch, before_ns=progress.cursor_ns, size=size))
        if batch.cursor_ns is None:
            return progress
        progress.indexed += write(partial(write_found, docs=batch.docs))
        progress.checked += batch.checked
        progress.cursor_ns = batch.cursor_ns
        if on_batch is not None:
            on_batch(progress)
