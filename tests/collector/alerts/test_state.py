"""The state machine: ``for:`` keeps a breach pending; a short breach never notifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from glassline.collector.alerts import AlertEngine, EvaluationReport, parse_config
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store, expiry
from glassline.collector.storage.testing import rows_deleted_per_transaction

from .support import T0, Receiver

Span = Callable[..., SpanRecord]


def engine_for(store: Store, url: str) -> AlertEngine:
    config = parse_config(
        {
            "notifiers": [{"name": "hook", "type": "webhook", "url": url}],
            "rules": [
                {
                    "name": "errors",
                    "kind": "error_rate",
                    "threshold": 0.2,
                    "min_requests": 5,
                    "window": "5m",
                    "for": "2m",
                    "severity": "critical",
                    "labels": {"oncall": "llm-team"},
                    "annotations": {
                        "summary": "{oncall}: {value:.0%} errors on {tenant} ({state})"
                    },
                }
            ],
        }
    )
    return AlertEngine(store, config)


def states(report: EvaluationReport) -> list[tuple[str, str]]:
    return [(t.from_state, t.to_state) for t in report.transitions]


def test_breach_must_last_for_the_for_duration_before_firing(
    store: Store, receiver: Receiver, span: Span
) -> None:
    engine = engine_for(store, receiver.url)
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), status="error") for _ in range(5)])
        assert states(engine.evaluate_once(T0)) == [("inactive", "pending")]
        assert states(engine.evaluate_once(T0 + timedelta(minutes=1))) == []
        assert engine.dispatcher.drain(10) and receiver.bodies == []
        fired = engine.evaluate_once(T0 + timedelta(minutes=2))
        assert states(fired) == [("pending", "firing")]
        alert = receiver.wait_for(1)[0]["alerts"][0]
    finally:
        engine.close()
    assert (alert["severity"], alert["value"], alert["threshold"]) == ("critical", 1.0, 0.2)
    assert alert["labels"] == {"tenant": "acme", "oncall": "llm-team"}
    assert alert["annotations"] == {"summary": "llm-team: 100% errors on acme (firing)"}
    assert alert["starts_at"] == "2026-11-10T12:02:00+00:00"


def test_breach_that_clears_while_pending_goes_back_to_inactive_silently(
    store: Store, receiver: Receiver, span: Span
) -> None:
    engine = engine_for(store, receiver.url)
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), status="error") for _ in range(5)])
        engine.evaluate_once(T0)
        store.write([span("acme", T0 + timedelta(seconds=30)) for _ in range(30)])
        cleared = engine.evaluate_once(T0 + timedelta(minutes=1))
        assert states(cleared) == [("pending", "inactive")]
        assert cleared.notices == []
        assert engine.dispatcher.drain(10) and receiver.bodies == []
    finally:
        engine.close()


def test_states_of_a_rule_removed_by_reload_are_dropped_but_history_stays(
    store: Store, receiver: Receiver, span: Span, tmp_path: Path
) -> None:
    from sqlalchemy import func, select

    from glassline.collector.alerts.models import AlertEvent, AlertState

    engine = engine_for(store, receiver.url)
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), status="error") for _ in range(5)])
        engine.evaluate_once(T0)
        rules = tmp_path / "alerts.yaml"
        rules.write_text("rules: []\n")
        assert engine.reload(rules)
        engine.evaluate_once(T0 + timedelta(minutes=1))
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(AlertState)) == 0
            assert s.scalar(select(func.count()).select_from(AlertEvent)) == 1
    finally:
        engine.close()


def _old_resolved_states(store: Store, rule: str, users: range, updated_at: int) -> None:
    from sqlalchemy import insert

    from glassline.collector.alerts.models import AlertState

    rows = [
        {"rule": rule, "tenant": "acme", "key": f"user=old-{n}", "dims": {"user": f"old-{n}"},
         "state": "resolved", "severity": "critical", "value": 2.0, "threshold": 1.0,
         "updated_at": updated_at, "annotations": {}}
        for n in users
    ]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(AlertState), rows)


def test_a_pass_reads_the_active_alerts_and_the_breaching_keys_not_every_alert_ever(
    any_store: Store, span: Span
) -> None:
    # A per-user budget keeps a row for each user that ever went over it: at 100,000 such
    # users every pass read them all, 2.2 s.
    from sqlalchemy import event

    from glassline.collector.alerts.models import AlertState

    rules = [{"name": "u", "kind": "budget", "window": "1h", "limit_usd": 1, "per": "user"}]
    engine = AlertEngine(any_store, parse_config({"rules": rules}))
    _old_resolved_states(any_store, "u", range(3_000), int((T0 - timedelta(days=3)).timestamp()))
    any_store.write([span("acme", T0 - timedelta(minutes=5), user_id="old-7", cost_usd=2.0)])
    loaded: list[str] = []

    def count(target: AlertState, context: object) -> None:
        loaded.append(target.key)

    event.listen(AlertState, "load", count)
    try:
        report = engine.evaluate_once(T0)
    finally:
        event.remove(AlertState, "load", count)
        engine.close()
    assert states(report) == [("resolved", "pending"), ("pending", "firing")]
    assert loaded == ["user=old-7"]


def test_alerts_over_and_unchanged_longer_than_the_history_is_kept_are_pruned(
    store: Store, span: Span
) -> None:
    from sqlalchemy import select

    from glassline.collector.alerts.models import AlertState

    rules = [{"name": "u", "kind": "budget", "window": "1h", "limit_usd": 1, "per": "user"}]
    config = parse_config({"rules": rules, "history_retention": "30d"})
    _old_resolved_states(store, "u", range(2), int((T0 - timedelta(days=31)).timestamp()))
    _old_resolved_states(store, "u", range(2, 3), int((T0 - timedelta(days=29)).timestamp()))
    engine = AlertEngine(store, config)
    try:
        engine.evaluate_once(T0)
    finally:
        engine.close()
    with store.session() as s:
        assert list(s.scalars(select(AlertState.key))) == ["user=old-2"]


def test_history_past_its_retention_goes_a_bounded_number_of_rows_a_pass(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history kept shorter in the config (90 days of a 15 s interval: 518,400 evaluation
    rows) drains over a few passes, not in one transaction that holds the write lock."""
    from sqlalchemy import insert

    from glassline.collector.alerts.models import AlertEvaluation

    config = parse_config({"rules": [], "history_retention": "30d"})
    old = int((T0 - timedelta(days=31)).timestamp())
    rows = [
        {"slot": n, "interval_ms": 15_000, "evaluated_at": old, "holder": "h", "rules": 0}
        for n in range(250)
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(AlertEvaluation), rows)
    deleted = rows_deleted_per_transaction(store.engine, "alert_evaluations")
    monkeypatch.setattr(expiry, "PURGE_ROWS", 100)
    engine = AlertEngine(store, config)
    try:
        for minute in range(4):
            engine.evaluate_once(T0 + timedelta(minutes=minute))
    finally:
        engine.close()
    assert deleted == [100, 100, 50]
