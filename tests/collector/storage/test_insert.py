"""storage/_insert.py: inserting rows not stored yet, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from glassline.collector.storage import Store
from glassline.collector.storage._insert import insert_new
from glassline.collector.storage.engine import WRITE
from glassline.collector.storage.models import UserRollup

_KEY = ("minute", "tenant", "user_id")


def _row(user: str, requests: int) -> dict[str, object]:
    counters = {"errors": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    return {"minute": 60, "tenant": "acme", "user_id": user, "requests": requests, **counters}


def _stored(store: Store) -> dict[str, int]:
    with store.session() as s:
        rows = s.execute(select(UserRollup.user_id, UserRollup.requests))
        return {user: requests for user, requests in rows}


def test_insert_new_inserts_only_the_keys_not_stored_and_says_which(store: Store) -> None:
    table = UserRollup.__table__
    with store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        first = insert_new(conn, table, _KEY, [_row(u, 1) for u in "abc"])
        # In the same transaction: PostgreSQL reuses what took the first rows in.
        second = insert_new(conn, table, _KEY, [_row(u, 2) for u in "bcde"])
    assert first == {(60, "acme", u) for u in "abc"}
    assert second == {(60, "acme", u) for u in "de"}
    assert _stored(store) == {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}


def test_text_is_stored_as_sent_whatever_it_holds(store: Store) -> None:
    # PostgreSQL takes new rows in through COPY, whose text format gives tabs, newlines,
    # backslashes and \N (its NULL) meanings of their own.
    tricky = 'a\tb\nc\r\\d \\N "q" é 😀 \\\\N'
    table = UserRollup.__table__
    with store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
        insert_new(conn, table, _KEY, [_row(tricky, 1), _row("\\N", 2)])
    assert _stored(store) == {tricky: 1, "\\N": 2}
