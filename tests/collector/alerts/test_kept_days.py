"""Whole past days of an SLO's counts, kept: counted once, again when their fingerprint moves,
and never more key-days than the bound."""

from __future__ import annotations

from collections.abc import Callable

from glassline.collector.alerts.kept_days import DAY, GoodTotal, KeptDays
from glassline.collector.alerts.queries import Key

SLO = ("sqlite:///x.db", '{"threshold_ms": 1000}')


def key(route: str) -> Key:
    return (("route", route), ("tenant", "acme"))


def counter(found: dict[int, GoodTotal]) -> tuple[list[int], Callable[[int], GoodTotal]]:
    asked: list[int] = []

    def count_day(day: int) -> GoodTotal:
        asked.append(day)
        return found[day]

    return asked, count_day


def test_each_day_is_counted_once_until_its_fingerprint_changes() -> None:
    days = range(0, 3 * DAY, DAY)
    found = {0: {key("a"): (1.0, 2.0)}, DAY: {key("b"): (3.0, 3.0)},
             2 * DAY: {key("a"): (0.0, 5.0), key("b"): (1.0, 1.0)}}  # fmt: skip
    asked, count_day = counter(found)
    kept = KeptDays()
    prints = {0: 2, DAY: 3, 2 * DAY: 6}
    first = kept.good_total(SLO, days, prints, count_day)
    again = kept.good_total(SLO, days, prints, count_day)
    assert first == again == {key("a"): (1.0, 7.0), key("b"): (4.0, 4.0)}
    assert asked == [0, DAY, 2 * DAY]
    found[DAY] = {key("b"): (3.0, 4.0)}  # a call written late for that day
    late = kept.good_total(SLO, days, {**prints, DAY: 4}, count_day)
    assert asked[3:] == [DAY] and late[key("b")] == (4.0, 5.0)
    other = kept.good_total(("sqlite:///x.db", "{}"), days, prints, count_day)
    assert asked[4:] == [0, DAY, 2 * DAY] and other == late  # another rule counts its own


def test_a_day_without_data_counts_nothing_and_a_key_with_no_calls_stays() -> None:
    asked, count_day = counter({0: {key("a"): (0.0, 0.0)}})
    found = KeptDays().good_total(SLO, range(0, 2 * DAY, DAY), {0: 1}, count_day)
    assert found == {key("a"): (0.0, 0.0)} and asked == [0]


def test_no_more_key_days_are_kept_than_the_bound() -> None:
    found = {d * DAY: {key(f"r{n}"): (1.0, 1.0) for n in range(10)} for d in range(6)}
    asked, count_day = counter(found)
    kept = KeptDays(limit=30)
    prints = dict.fromkeys(found, 10)
    assert kept.good_total(SLO, range(0, 3 * DAY, DAY), prints, count_day)[key("r0")] == (3, 3)
    assert kept.good_total(SLO, range(3 * DAY, 6 * DAY, DAY), prints, count_day)
    assert kept._held == 30
    kept.good_total(SLO, range(3 * DAY, 6 * DAY, DAY), prints, count_day)
    assert asked == [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY]  # the last three still kept
    kept.good_total(SLO, range(0, DAY, DAY), prints, count_day)
    assert asked[6:] == [0] and kept._held == 30  # evicted, counted again, the oldest out
