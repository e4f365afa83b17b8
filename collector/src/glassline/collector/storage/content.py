"""Content events (``span_content``) and their span: stored apart, joined on the span's row.

The span's message attributes are always rebuilt from ALL its content rows, so the result
does not depend on the order in which events and span arrive, nor on how often either is
resent (rows are keyed by event id). It happens in three places, each inside the caller's
write transaction:

- :func:`write_events`: new rows, then the spans already stored get their messages;
- :func:`attach_to_new_spans`: a batch of spans about to be inserted takes the stored rows;
- :func:`attach_pending`: a job for the one gap left, a span and its events committed at the
  same moment by two PostgreSQL transactions that could not see each other.

A span that carries a message attribute itself keeps it; events fill only the ones it lacks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, select, tuple_

from glassline.collector.logs.events import MESSAGE_ATTRIBUTES
from glassline.collector.records import AttributeValue, ContentEvent, SpanRecord
from glassline.collector.storage import search, search_text
from glassline.collector.storage._insert import insert_new
from glassline.collector.storage._merge import update_rows
from glassline.collector.storage.models import Span, SpanContent
from glassline.redaction import jsontext
from glassline.semconv import attributes as attrs

__all__ = [
    "EVENT_REDACTIONS",
    "FROM_EVENTS",
    "attach_pending",
    "attach_to_new_spans",
    "mark_attached",
    "merged",
    "write_events",
]

# The span attribute listing the message attributes its events wrote (so a rebuild replaces
# them), and the redaction evidence of those events ({ENTITY: count}, like the span's own
# glassline.redaction.entities, which stays the span's alone).
FROM_EVENTS = "glassline.content.from_events"
EVENT_REDACTIONS = "glassline.content.redaction.entities"
_KEY = ("tenant", "trace_id", "span_id", "event_id")
_CHUNK = 400
SpanKey = tuple[str, str, str]
_Row = tuple[int, int, str, dict[str, Any]]  # time_ns, seq, event_id, attributes


def write_events(conn: Connection, events: Sequence[ContentEvent], now_ns: int) -> tuple[int, int]:
    """Store new events and attach them to spans already stored; (inserted, spans updated)."""
    unique = {(e.tenant, e.trace_id, e.span_id, e.event_id): e for e in events}
    rows = [
        {
            "tenant": e.tenant,
            "trace_id": e.trace_id,
            "span_id": e.span_id,
            "event_id": e.event_id,
            "name": e.name[:128],
            "time_ns": e.time_ns,
            "seq": e.seq,
            "attributes": e.attributes,
            "received_ns": now_ns,
            "attached": False,
        }
        for _, e in sorted(unique.items())
    ]
    inserted = insert_new(conn, SpanContent.__table__, _KEY, rows)
    search.write_docs(conn, search_text.docs_for_events([unique[k] for k in sorted(inserted)]))
    return len(inserted), _attach_stored({k[:3] for k in inserted}, conn)


def attach_to_new_spans(conn: Connection, spans: Sequence[SpanRecord]) -> set[SpanKey]:
    """Give spans about to be inserted the messages of their stored events (in place).

    Returns the keys of the spans that got some; the caller marks them attached once it
    knows which spans it inserted (:func:`mark_attached`).
    """
    by_span = _rows_of(conn, {(s.tenant, s.trace_id, s.span_id) for s in spans}, by_trace=True)
    for span in spans:
        rows = by_span.get((span.tenant, span.trace_id, span.span_id))
        if rows:
            span.attributes = merged(span.attributes, rows)
    return set(by_span)


def mark_attached(conn: Connection, keys: Iterable[SpanKey]) -> None:
    """Flag the content rows of ``keys`` as attached to their stored span."""
    update_rows(
        conn,
        SpanContent.__table__,
        ("tenant", "trace_id", "span_id"),
        [
            {"k_tenant": t, "k_trace_id": tr, "k_span_id": sp, "attached": True}
            for t, tr, sp in sorted(keys)
        ],
    )


def attach_pending(conn: Connection, since_ns: int, limit: int = 500) -> int:
    """Attach unattached rows received since ``since_ns`` whose span is stored; returns spans."""
    c, s = SpanContent.__table__.c, Span.__table__.c
    stmt = (
        select(c.tenant, c.trace_id, c.span_id)
        .distinct()
        .join(
            Span.__table__,
            and_(s.tenant == c.tenant, s.trace_id == c.trace_id, s.span_id == c.span_id),
        )
        .where(c.attached.is_(False), c.received_ns >= since_ns)
        .limit(limit)
    )
    keys: set[SpanKey] = {(t, tr, sp) for t, tr, sp in conn.execute(stmt)}
    return _attach_stored(keys, conn)


def merged(attributes: dict[str, AttributeValue], rows: list[_Row]) -> dict[str, AttributeValue]:
    """``attributes`` with the message attributes rebuilt from all of a span's event rows."""
    previous = attributes.get(FROM_EVENTS)
    from_events = set(previous) if isinstance(previous, list) else set()
    own = {k for k in MESSAGE_ATTRIBUTES if k in attributes and k not in from_events}
    joined: dict[str, list[Any]] = defaultdict(list)
    redactions: dict[str, int] = defaultdict(int)
    for _, _, _, row in sorted(rows, key=lambda r: r[:3]):
        for key, value in row.items():
            if key in MESSAGE_ATTRIBUTES and key not in own:
                joined[key].extend(_messages(value))
        evidence = row.get(attrs.REDACTION_ENTITIES)
        for entity, n in evidence.items() if isinstance(evidence, dict) else ():
            redactions[entity] += n if isinstance(n, int) else 0
    out = {k: v for k, v in attributes.items() if k != EVENT_REDACTIONS}
    for key, messages in joined.items():
        out[key] = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
    if redactions:
        out[EVENT_REDACTIONS] = dict(sorted(redactions.items()))
    out[FROM_EVENTS] = sorted(set(joined) | (from_events - own))
    return out


def _messages(value: Any) -> list[Any]:
    """A row's message list; a value that is not a JSON list (cut by the size limit) as text."""
    if isinstance(value, str):
        try:
            parsed = jsontext.parse(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return [{"role": "unknown", "parts": [{"type": "text", "content": str(value)}]}]


def _attach_stored(keys: set[SpanKey], conn: Connection) -> int:
    """Rebuild the message attributes of the stored spans among ``keys``."""
    if not keys:
        return 0
    s = Span.__table__.c
    updates = []
    rows = _rows_of(conn, keys, by_trace=False)
    for chunk in _chunks(sorted(keys)):
        stmt = select(s.tenant, s.trace_id, s.span_id, s.attributes).where(
            tuple_(s.tenant, s.trace_id, s.span_id).in_(chunk)
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # a concurrent attach of the same span waits
        for tenant, trace_id, span_id, attributes in conn.execute(stmt):
            key = (tenant, trace_id, span_id)
            updates.append(
                {
                    "k_tenant": tenant,
                    "k_trace_id": trace_id,
                    "k_span_id": span_id,
                    "attributes": merged(attributes or {}, rows.get(key, [])),
                }
            )
    update_rows(conn, Span.__table__, ("tenant", "trace_id", "span_id"), updates)
    mark_attached(conn, [(u["k_tenant"], u["k_trace_id"], u["k_span_id"]) for u in updates])
    return len(updates)


def _rows_of(conn: Connection, keys: set[SpanKey], *, by_trace: bool) -> dict[SpanKey, list[_Row]]:
    """The content rows of the spans ``keys``, by span.

    ``by_trace`` selects on tenant + trace id (the primary key's prefix: one short index range
    per trace, and nothing at all to read while the logs receiver is idle) and filters spans here.
    """
    c = SpanContent.__table__.c
    out: dict[SpanKey, list[_Row]] = defaultdict(list)
    wanted: list[tuple[str, ...]]
    if by_trace:
        wanted = sorted({k[:2] for k in keys})
        column: Any = tuple_(c.tenant, c.trace_id)
    else:
        wanted = sorted(keys)
        column = tuple_(c.tenant, c.trace_id, c.span_id)
    for chunk in _chunks(wanted):
        stmt = select(
            c.tenant, c.trace_id, c.span_id, c.time_ns, c.seq, c.event_id, c.attributes
        ).where(column.in_(chunk))
        for tenant, trace_id, span_id, time_ns, seq, event_id, attributes in conn.execute(stmt):
            key = (tenant, trace_id, span_id)
            if key in keys:
                out[key].append((time_ns, seq, event_id, attributes))
    return dict(out)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
