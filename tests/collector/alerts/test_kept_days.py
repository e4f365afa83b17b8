"""Whole past days of an SLO's counts, kept in the store and in memory: counted once by
whichever process comes first, again when their fingerprint moves, read by every other
process, and never more key-days in memory than the bound."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from sqlalchemy import func, select

from glassline.collector.alerts.kept_days import DAY, CountedDay, GoodTotal, KeptDays, Scope
from glassline.collector.alerts.models import SloCount
from glassline.collector.alerts.queries import Key
from glassline.collector.storage import Store

SLO = Scope("rule-a", ("route",))


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


def key(route: str, tenant: str = "acme") -> Key:
    return (("route", route), ("tenant", tenant))


def total(prints: Mapping[str, Any]) -> Any:
    return sum(prints.values())


def counter(
    found: dict[int, GoodTotal],
) -> tuple[list[int], Callable[[int], CountedDay]]:
    """``count_day`` over ``found``, each tenant's fingerprint its total; and the days asked."""
    asked: list[int] = []

    def count_day(day: int) -> CountedDay:
        asked.append(day)
        prints: dict[str, float] = {}
        for k, (_, n) in found[day].items():
            prints[dict(k)["tenant"]] = prints.get(dict(k)["tenant"], 0) + n
        return CountedDay(dict(found[day]), prints)

    return asked, count_day


def prints_of(found: dict[int, GoodTotal], tenant: str | None = None) -> dict[int, float]:
    out: dict[int, float] = {}
    for day, keys in found.items():
        n = sum(t for k, (_, t) in keys.items() if tenant in (None, dict(k)["tenant"]))
        if n:
            out[day] = n
    return out


def good_total(kept: KeptDays, store: Store, found: dict[int, GoodTotal], **scope: Any) -> Any:
    asked, count_day = counter(found)
    slo = Scope(**{"slo": "rule-a", "per": ("route",), **scope})
    tenant = next(iter(slo.tenants)) if slo.tenants else None
    with store.engine.connect() as conn:
        got = kept.good_total(conn, slo, prints_of(found, tenant), total, count_day)
    return got, asked


def test_each_day_is_counted_once_until_its_fingerprint_changes(store: Store) -> None:
    found = {0: {key("a"): (1.0, 2.0)}, DAY: {key("b"): (3.0, 3.0)},
             2 * DAY: {key("a"): (0.0, 5.0), key("b"): (1.0, 1.0)}}  # fmt: skip
    kept = KeptDays()
    first, asked = good_total(kept, store, found)
    again, asked_again = good_total(kept, store, found)
    assert first == again == {key("a"): (1.0, 7.0), key("b"): (4.0, 4.0)}
    assert asked == [0, DAY, 2 * DAY] and asked_again == []
    found[DAY] = {key("b"): (3.0, 4.0)}  # a call written late for that day
    late, asked = good_total(kept, store, found)
    assert asked == [DAY] and late[key("b")] == (4.0, 5.0)
    other, asked = good_total(kept, store, found, slo="rule-b")
    assert asked == [0, DAY, 2 * DAY] and other == late  # another rule counts its own


def test_another_process_reads_the_days_one_counted_and_counts_none(store: Store) -> None:
    found = {d * DAY: {key("a"): (float(d), 3.0), key("b", "zeta"): (1.0, 1.0)} for d in range(4)}
    first, asked = good_total(KeptDays(), store, found)
    assert len(asked) == 4
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SloCount)) == 8  # 2 tenants x 4 days
    second, asked = good_total(KeptDays(), store, found)
    assert second == first and asked == []
    # One tenant's answer (the API's) is read from the same rows, checked by its fingerprint.
    acme, asked = good_total(KeptDays(), store, found, tenants=frozenset({"acme"}))
    assert acme == {key("a"): (6.0, 12.0)} and asked == []
    found[DAY][key("b", "zeta")] = (1.0, 2.0)  # late for zeta: acme's day is still good
    acme, asked = good_total(KeptDays(), store, found, tenants=frozenset({"acme"}))
    assert asked == []
    every, asked = good_total(KeptDays(), store, found)
    assert asked == [DAY] and every[key("b", "zeta")] == (4.0, 5.0)


def test_a_day_without_data_counts_nothing_and_a_key_with_no_calls_stays(store: Store) -> None:
    asked, count_day = counter({0: {key("a"): (0.0, 0.0)}})
    with store.engine.connect() as conn:
        got = KeptDays().good_total(conn, SLO, {0: 0.0}, total, count_day)
    assert got == {key("a"): (0.0, 0.0)} and asked == [0]


def test_no_more_key_days_are_kept_in_memory_than_the_bound(store: Store) -> None:
    found = {d * DAY: {key(f"r{n}"): (1.0, 1.0) for n in range(10)} for d in range(6)}
    kept = KeptDays(limit=30)
    first = {d: found[d] for d in range(0, 3 * DAY, DAY)}
    later = {d: found[d] for d in range(3 * DAY, 6 * DAY, DAY)}
    assert good_total(kept, store, first)[0][key("r0")] == (3, 3)
    assert good_total(kept, store, later)[0]
    assert kept._held == 30
    assert good_total(kept, store, later)[1] == []  # the last three still kept
    assert good_total(kept, store, {0: found[0]}) == ({k: (1, 1) for k in found[0]}, [])
    assert kept._held == 30  # read back from the store, the oldest out
