"""What each notifier is owed: delayed by a full queue or a failed delivery, never lost, never twice.

Before, a notification a full queue could not take was dropped, and sent again only at its
alert's ``repeat_interval`` (4 h): 5,000 tenants x 4 rules firing at once lost 19,000 of 20,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import T0, Receiver

Span = Callable[..., SpanRecord]
TENANTS = [f"tenant-{n:02d}" for n in range(12)]
PASS = timedelta(seconds=15)


def config(*hooks: Receiver, **settings: Any) -> Any:
    return parse_config(
        {
            "queue_size": 4,
            "group_by": ["rule", "tenant"],
            "notifiers": [
                {"name": f"hook{n}", "type": "webhook", "url": hook.url, "max_retries": 0}
                for n, hook in enumerate(hooks)
            ],
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1}],
            **settings,
        }
    )


def firing(tenants: list[str]) -> list[tuple[str, ...]]:
    return [("firing", "spend", t) for t in tenants]


def run_passes(engine: AlertEngine, first: int, count: int) -> None:
    """``count`` passes a pass interval apart, each after the queues took the last one's."""
    for k in range(first, first + count):
        assert engine.dispatcher.drain(30)
        engine.evaluate_once(T0 + k * PASS)
    assert engine.dispatcher.drain(30)


def test_every_group_reaches_every_notifier_once_when_more_fire_than_the_queues_hold(
    any_store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    held, quick = receiver_factory("hold"), receiver_factory("ok")
    engine = AlertEngine(any_store, config(held, quick))
    any_store.write([span(t, T0 - timedelta(minutes=1), cost_usd=2.0) for t in TENANTS])
    try:
        first = engine.evaluate_once(T0)  # 12 groups, a queue of 4 for each notifier
        assert first.enqueued == 8 and first.dropped == 0
        assert first.waiting["hook0"][0] == first.waiting["hook1"][0] == 8
        held.wait_for(1)
        held.release.set()
        run_passes(engine, 1, 3)  # 4 a pass: two more would do, the third must send nothing
    finally:
        engine.close()
    for hook in (held, quick):
        assert sorted(hook.groups()) == firing(TENANTS)  # each once, none dropped
    assert engine.dispatcher.stats.get("hook0", "dropped") == 0


def test_what_a_stopped_collector_still_owed_goes_out_from_the_next_once(
    any_store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    hook = receiver_factory("ok")
    any_store.write([span(t, T0 - timedelta(minutes=1), cost_usd=2.0) for t in TENANTS])
    stopped = AlertEngine(any_store, config(hook))
    stopped.evaluate_once(T0)  # queues 4 of 12
    stopped.close()
    assert len(hook.groups()) == 4
    restarted = AlertEngine(any_store, config(hook))
    try:
        run_passes(restarted, 1, 3)
    finally:
        restarted.close()
    assert sorted(hook.groups()) == firing(TENANTS)


def test_a_delivery_that_failed_after_its_retries_is_offered_again_at_the_next_pass(
    any_store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    flaky, steady = receiver_factory("fail-once"), receiver_factory("ok")
    engine = AlertEngine(any_store, config(flaky, steady))
    any_store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
    try:
        engine.evaluate_once(T0)
        run_passes(engine, 1, 2)
    finally:
        engine.close()
    assert flaky.groups() == firing(["acme"]) * 2  # a 500, then the same alert again: a 200
    assert steady.groups() == firing(["acme"])  # the notifier that had it is not sent it again
    assert engine.dispatcher.stats.get("hook0", "failed") == 1


def test_a_notifier_that_rejects_a_message_is_not_offered_it_again(
    any_store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    moved = receiver_factory("moved")  # a redirect (or another 4xx) will not improve
    engine = AlertEngine(any_store, config(moved))
    any_store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
    try:
        engine.evaluate_once(T0)
        run_passes(engine, 1, 2)
        assert engine.evaluate_once(T0 + 3 * PASS).waiting == {}
    finally:
        engine.close()
    assert moved.groups() == firing(["acme"])


@pytest.mark.parametrize("send_resolved", [True, False])
def test_a_resolution_supersedes_the_firing_notice_still_waiting(
    any_store: Store, receiver_factory: Callable[[str], Receiver], span: Span, send_resolved: bool
) -> None:
    held = receiver_factory("hold")
    settings = {"queue_size": 1, "send_resolved": send_resolved}
    engine = AlertEngine(any_store, config(held, **settings))
    any_store.write([span(t, T0 - timedelta(minutes=1), cost_usd=2.0) for t in ("a", "b", "c")])
    any_store.write([span("a", T0 + timedelta(minutes=30), cost_usd=2.0)])  # a keeps firing
    try:
        engine.evaluate_once(T0)  # a's message holds the notifier
        held.wait_for(1)
        engine.evaluate_once(T0 + PASS)  # b's waits in the queue, c's in the store
        later = T0 + timedelta(minutes=61)  # b and c spent nothing in the last hour
        report = engine.evaluate_once(later)
        assert {t.tenant for t in report.transitions} == {"b", "c"}
        held.release.set()
        for k in range(1, 4):
            assert engine.dispatcher.drain(30)
            engine.evaluate_once(later + k * PASS)
        assert engine.dispatcher.drain(30)
    finally:
        engine.close()
    # b's firing message was in the queue already; c's never went out, and then only its
    # resolution (with its start and end) is news, or nothing without send_resolved.
    resolved = [("resolved", "spend", "b"), ("resolved", "spend", "c")] if send_resolved else []
    assert sorted(held.groups()) == sorted(firing(["a", "b"]) + resolved)
    assert max(Counter(held.groups()).values()) == 1
