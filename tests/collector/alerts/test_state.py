"""The state machine: ``for:`` keeps a breach pending; a short breach never notifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from glassline.collector.alerts import AlertEngine, EvaluationReport, parse_config
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

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
