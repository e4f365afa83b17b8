"""A budget breach fires once, repeats at repeat_interval, resolves when the window moves on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import T0, Receiver


def budget_config(url: str, **rule: Any) -> Any:
    return parse_config(
        {
            "dashboard_url": "http://dash.local",
            "repeat_interval": "30m",
            "notifiers": [{"name": "hook", "type": "webhook", "url": url, "max_retries": 0}],
            "rules": [
                {
                    "name": "hourly-spend",
                    "kind": "budget",
                    "window": "1h",
                    "limit_usd": 10,
                    "labels": {"team": "ml"},
                    "annotations": {
                        "summary": "{tenant} spent ${value:.2f} of ${threshold:.2f} in {window}"
                    },
                    **rule,
                }
            ],
        }
    )


@pytest.fixture
def engine(any_store: Store, receiver: Receiver) -> Iterator[AlertEngine]:
    e = AlertEngine(any_store, budget_config(receiver.url))
    yield e
    e.close()


def expected_alert(
    state: str, *, value: float | None, repeat: bool, ends: str | None, at: int = 0
) -> dict:
    """``at``: minutes after T0 the alert was evaluated (the link's range ends there)."""
    end = int((T0 + timedelta(minutes=at)).timestamp())
    return {
        "rule": "hourly-spend",
        "kind": "budget",
        "state": state,
        "severity": "critical",
        "value": value,
        "threshold": 10.0,
        "unit": "usd",
        "labels": {"tenant": "acme", "team": "ml"},
        "annotations": {"summary": f"acme spent ${value or 0:.2f} of $10.00 in 1h"},
        "starts_at": "2026-11-10T12:00:00+00:00",
        "ends_at": ends,
        "repeat": repeat,
        "link": "http://dash.local/alerts?tenant=acme&rule=hourly-spend"
        + (f"&range=1h&end={end}" if state == "firing" else ""),
    }


def body(status: str, alert: dict) -> dict:
    return {
        "version": "1",
        "type": "alert",
        "receiver": "hook",
        "status": status,
        "group_labels": {"rule": "hourly-spend", "tenant": "acme"},
        "alerts": [alert],
    }


def test_budget_breach_fires_once_repeats_and_resolves_with_exact_payloads(
    engine: AlertEngine, any_store: Store, receiver: Receiver, span: Callable[..., SpanRecord]
) -> None:
    any_store.write([span("acme", T0 - timedelta(minutes=10), cost_usd=4.0) for _ in range(3)])
    any_store.write([span("other", T0 - timedelta(minutes=10), cost_usd=1.0)])

    report = engine.evaluate_once(T0)
    assert [(t.from_state, t.to_state) for t in report.transitions] == [
        ("inactive", "pending"),
        ("pending", "firing"),
    ]
    first = receiver.wait_for(1)[0]
    assert first == body("firing", expected_alert("firing", value=12.0, repeat=False, ends=None))

    engine.evaluate_once(T0 + timedelta(minutes=1))
    engine.evaluate_once(T0 + timedelta(minutes=29))
    assert engine.dispatcher.drain(10)
    assert len(receiver.bodies) == 1  # still firing, not yet due for a repeat

    engine.evaluate_once(T0 + timedelta(minutes=31))
    repeat = receiver.wait_for(2)[1]
    repeated = expected_alert("firing", value=12.0, repeat=True, ends=None, at=31)
    assert repeat == body("firing", repeated)

    # The spans were at T0-10m: a 1h window starting after that minute no longer holds them.
    report = engine.evaluate_once(T0 + timedelta(minutes=51))
    assert [(t.from_state, t.to_state) for t in report.transitions] == [("firing", "resolved")]
    resolved = receiver.wait_for(3)[2]
    assert resolved == body(
        "resolved",
        expected_alert("resolved", value=None, repeat=False, ends="2026-11-10T12:51:00+00:00"),
    )
    engine.evaluate_once(T0 + timedelta(minutes=90))
    assert engine.dispatcher.drain(10)
    assert len(receiver.bodies) == 3


def test_warning_then_critical_notifies_each_level(
    store: Store, receiver: Receiver, span: Callable[..., SpanRecord]
) -> None:
    engine = AlertEngine(store, budget_config(receiver.url, warn_usd=5))
    try:
        store.write([span("acme", T0 - timedelta(minutes=5), cost_usd=6.0)])
        engine.evaluate_once(T0)
        store.write([span("acme", T0 - timedelta(minutes=4), cost_usd=6.0)])
        engine.evaluate_once(T0 + timedelta(minutes=1))
        bodies = receiver.wait_for(2)
    finally:
        engine.close()
    got = [
        (b["alerts"][0]["severity"], b["alerts"][0]["value"], b["alerts"][0]["threshold"])
        for b in bodies
    ]
    assert got == [("warning", 6.0, 5.0), ("critical", 12.0, 10.0)]


def test_restarted_engine_does_not_renotify_but_still_repeats(
    store: Store, receiver: Receiver, span: Callable[..., SpanRecord]
) -> None:
    config = budget_config(receiver.url)
    store.write([span("acme", T0 - timedelta(minutes=5), cost_usd=11.0)])
    first = AlertEngine(store, config)
    first.evaluate_once(T0)
    receiver.wait_for(1)
    first.close()

    second = AlertEngine(store, config)  # a restart, or another replica taking over
    try:
        report = second.evaluate_once(T0 + timedelta(minutes=1))
        assert report.notices == [] and report.transitions == []
        report = second.evaluate_once(T0 + timedelta(minutes=30))
        assert [n.repeat for n in report.notices] == [True]
        assert receiver.wait_for(2)[1]["alerts"][0]["repeat"] is True
    finally:
        second.close()


def test_history_records_each_state_change_with_value_and_threshold(
    engine: AlertEngine, any_store: Store, span: Callable[..., SpanRecord]
) -> None:
    from sqlalchemy import select

    from glassline.collector.alerts.models import AlertEvent

    any_store.write([span("acme", T0 - timedelta(minutes=3), cost_usd=15.0)])
    engine.evaluate_once(T0)
    engine.evaluate_once(T0 + timedelta(hours=2))
    with any_store.session() as s:
        rows = s.scalars(select(AlertEvent).order_by(AlertEvent.id)).all()
        got = [
            (r.at - int(T0.timestamp()), r.from_state, r.to_state, r.value, r.threshold)
            for r in rows
        ]
    assert got == [
        (0, "inactive", "pending", 15.0, 10.0),
        (0, "pending", "firing", 15.0, 10.0),
        (7200, "firing", "resolved", None, 10.0),
    ]


def test_history_older_than_the_retention_is_pruned(
    store: Store, receiver: Receiver, span: Callable[..., SpanRecord]
) -> None:
    from sqlalchemy import func, select

    from glassline.collector.alerts.models import AlertEvent

    config = budget_config(receiver.url).model_copy(update={"history_retention": timedelta(days=1)})
    engine = AlertEngine(store, config)
    try:
        store.write([span("acme", T0 - timedelta(minutes=3), cost_usd=15.0)])
        engine.evaluate_once(T0)
        engine.evaluate_once(T0 + timedelta(hours=2))  # resolved: 3 events so far
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(AlertEvent)) == 3
        engine.evaluate_once(T0 + timedelta(days=1, hours=1))  # the first two are > 1 day old
        with store.session() as s:
            assert s.scalars(select(AlertEvent.to_state)).all() == ["resolved"]
    finally:
        engine.close()
