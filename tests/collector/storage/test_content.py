"""storage/content.py: content events and their span meet in the span's row, whatever the order,
however often either is resent, and only within one tenant."""

from __future__ import annotations

import itertools
import json
from typing import Any

from sqlalchemy import select, update

from glassline.collector.records import ContentEvent, SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.content import FROM_EVENTS
from glassline.collector.storage.models import Span, SpanContent

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
T0 = 1_700_000_000_000_000_000


def msg(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def event(n: int, key: str, role: str, text: str, tenant: str = "acme") -> ContentEvent:
    return ContentEvent(
        tenant=tenant, trace_id=TRACE, span_id=SPAN, event_id=f"e{n}", name="gen_ai.x",
        time_ns=T0 + n, seq=0, attributes={key: msg(role, text)},
    )  # fmt: skip


EVENTS = [
    event(0, "gen_ai.input.messages", "system", "Be brief."),
    event(1, "gen_ai.input.messages", "user", "Hi"),
    event(2, "gen_ai.output.messages", "assistant", "Yo"),
]


def span(tenant: str = "acme", **attributes: Any) -> SpanRecord:
    return SpanRecord(
        tenant=tenant, trace_id=TRACE, span_id=SPAN, name="chat", start_ns=T0, end_ns=T0 + 10,
        attributes={"gen_ai.operation.name": "chat", **attributes},
    )  # fmt: skip


def stored(store: Store, tenant: str = "acme") -> dict[str, Any] | None:
    with store.session() as s:
        row = s.execute(select(Span.attributes).where(Span.tenant == tenant)).scalar()
    return row


def texts(attributes: dict[str, Any], key: str) -> list[str]:
    return [m["parts"][0]["content"] for m in json.loads(attributes[key])]


def test_events_before_after_and_around_the_span_give_the_same_messages(store: Store) -> None:
    """Every interleaving of the span and three single-event exports, each on a fresh trace."""
    for n, order in enumerate(itertools.permutations(["span", 0, 1, 2])):
        trace = f"{n:032x}"
        for item in order:
            if item == "span":
                record = span()
                record.trace_id = trace
                store.write([record])
            else:
                e = EVENTS[item]
                store.write_content([ContentEvent(**{**_fields(e), "trace_id": trace})])
        with store.session() as s:
            attributes = s.execute(
                select(Span.attributes).where(Span.trace_id == trace)
            ).scalar_one()
        assert texts(attributes, "gen_ai.input.messages") == ["Be brief.", "Hi"], order
        assert texts(attributes, "gen_ai.output.messages") == ["Yo"], order
        assert attributes[FROM_EVENTS] == ["gen_ai.input.messages", "gen_ai.output.messages"]
        assert attributes["gen_ai.operation.name"] == "chat"


def _fields(e: ContentEvent) -> dict[str, Any]:
    return {name: getattr(e, name) for name in ContentEvent.__slots__}


def test_resent_events_and_spans_are_kept_once(store: Store) -> None:
    assert store.write_content(EVENTS).inserted == 3
    store.write([span()])
    again = store.write_content(EVENTS)
    assert (again.inserted, again.duplicates) == (0, 3)
    store.write([span()])
    attributes = stored(store)
    assert attributes is not None
    assert texts(attributes, "gen_ai.input.messages") == ["Be brief.", "Hi"]
    with store.session() as s:
        assert s.query(SpanContent).count() == 3


def test_a_spans_own_messages_win_over_its_events(store: Store) -> None:
    store.write([span(**{"gen_ai.input.messages": msg("user", "from the span")})])
    store.write_content(EVENTS)
    attributes = stored(store)
    assert attributes is not None
    assert texts(attributes, "gen_ai.input.messages") == ["from the span"]
    assert texts(attributes, "gen_ai.output.messages") == ["Yo"]
    assert attributes[FROM_EVENTS] == ["gen_ai.output.messages"]


def test_events_never_reach_another_tenants_span(store: Store) -> None:
    store.write([span(tenant="globex")])
    store.write_content(EVENTS)  # acme's events, same trace and span ids
    attributes = stored(store, "globex")
    assert attributes is not None and "gen_ai.input.messages" not in attributes
    store.write([span(tenant="acme")])
    acme = stored(store, "acme")
    assert acme is not None and texts(acme, "gen_ai.output.messages") == ["Yo"]
    globex = stored(store, "globex")
    assert globex is not None and "gen_ai.output.messages" not in globex


def test_the_attach_job_joins_a_span_and_events_that_missed_each_other(store: Store) -> None:
    store.write_content(EVENTS)
    store.write([span()])
    # What two concurrent PostgreSQL transactions leave behind: the span without its messages
    # and the rows unattached.
    with store.engine.begin() as conn:
        conn.execute(update(Span).values(attributes={"gen_ai.operation.name": "chat"}))
        conn.execute(update(SpanContent).values(attached=False))
    assert store.attach_pending_content() == 1
    attributes = stored(store)
    assert attributes is not None and texts(attributes, "gen_ai.output.messages") == ["Yo"]
    assert store.attach_pending_content() == 0  # nothing left unattached


def test_events_whose_span_never_comes_are_purged_with_the_raw_data(store: Store) -> None:
    store.write_content(EVENTS, now_ns=T0)
    counts = store.purge(now_ns=T0 + int(30 * 86_400 * 1e9))
    assert counts["span_content"] == 3
