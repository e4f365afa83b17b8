"""The daily digest is sent once per tenant and day; ``run`` evaluates on its interval under a lease."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from glassline.collector.alerts import LEASE_NAME, AlertEngine, EvaluationReport, parse_config
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import T0, Receiver

Span = Callable[..., SpanRecord]


def digest_config(url: str) -> object:
    return parse_config(
        {
            "notifiers": [{"name": "hook", "type": "webhook", "url": url}],
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 5}],
            "digest": {"enabled": True, "hour": 8, "timezone": "UTC"},
        }
    )


def seed_days(store: Store, span: Span) -> None:
    yesterday = T0 - timedelta(days=1)  # 2026-11-09 12:00
    for when, cost, tokens in (
        (yesterday, 6.0, 300),
        (yesterday - timedelta(days=1), 3.0, 200),
        (yesterday - timedelta(days=7), 2.0, 100),
    ):
        store.write(
            [span("acme", when, model="gpt", stage="answer", cost_usd=cost, input_tokens=tokens)]
        )
    store.write([span("acme", yesterday, kind="stage", stage="answer", duration_ms=1200)])
    store.write([span("acme", yesterday, model="gpt", stage="answer", status="error", retries=1)])


def test_digest_goes_out_once_per_tenant_and_day_across_restarts(
    any_store: Store, receiver: Receiver, span: Span
) -> None:
    store = any_store
    seed_days(store, span)
    config = digest_config(receiver.url)
    engine = AlertEngine(store, config)
    try:
        yesterday_noon = engine.evaluate_once(T0 - timedelta(days=1, minutes=-1))
        assert [t.to_state for t in yesterday_noon.transitions] == ["pending", "firing"]
        assert yesterday_noon.digests == ["acme"]  # past 08:00: the digest of 2026-11-08
        assert engine.evaluate_once(T0.replace(hour=7)).digests == []  # before the hour
        report = engine.evaluate_once(T0.replace(hour=9))
        assert report.digests == ["acme"]
        assert engine.evaluate_once(T0.replace(hour=10)).digests == []
    finally:
        engine.close()
    restarted = AlertEngine(store, config)
    try:
        assert restarted.evaluate_once(T0.replace(hour=11)).digests == []
        assert restarted.dispatcher.drain(10)
    finally:
        restarted.close()

    kinds = [(b["type"], b.get("status") or b["day"]) for b in receiver.wait_for(4)]
    assert kinds == [
        ("alert", "firing"),
        ("digest", "2026-11-08"),
        ("alert", "resolved"),
        ("digest", "2026-11-09"),
    ]
    digest = receiver.bodies[3]
    assert digest["tenant"] == "acme" and digest["day"] == "2026-11-09"
    assert digest["spend_usd"] == {"day": 6.0, "previous_day": 3.0, "week_ago": 2.0}
    assert digest["spend_by_model"] == [
        {"model": "gpt", "day": 6.0, "previous_day": 3.0, "week_ago": 2.0}
    ]
    assert digest["rules_fired"] == [{"rule": "spend", "times": 1}]
    assert digest["tokens_per_request"] == {"day": 150.0, "previous_day": 200.0, "week_ago": 100.0}
    assert digest["error_rate"] == 0.5 and digest["retry_rate"] == 0.5
    assert digest["p95_ms_by_stage"]["answer"] == pytest.approx(1200, rel=0.02)
    assert "Spend $6.00 (+100% vs previous day, +200% vs a week ago)" in digest["text"]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_run_evaluates_on_its_interval_while_holding_the_lease(
    store: Store, receiver: Receiver, span: Span
) -> None:
    config = parse_config(
        {
            "evaluation_interval": "0.05s",
            "notifiers": [{"name": "hook", "type": "webhook", "url": receiver.url}],
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1}],
        }
    )
    store.write([span("acme", datetime.now(UTC) - timedelta(minutes=1), cost_usd=3.0)])
    other = AlertEngine(store, config, holder="other-replica")
    assert store.try_acquire_lease(LEASE_NAME, "other-replica", 60)
    engine = AlertEngine(store, config, holder="me")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await wait_until(lambda: engine.passes["skipped_no_lease"] >= 2)
        assert engine.passes["evaluated"] == 0 and receiver.bodies == []
        store.release_lease(LEASE_NAME, "other-replica")
        body = await asyncio.to_thread(receiver.wait_for, 1)
        assert body[0]["alerts"][0]["rule"] == "spend"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        engine.close()
        other.close()


def test_an_interval_claimed_by_one_replica_is_not_evaluated_again_by_another(
    any_store: Store, receiver: Receiver, span: Span
) -> None:
    config = parse_config(
        {
            "evaluation_interval": "1m",
            "notifiers": [{"name": "hook", "type": "webhook", "url": receiver.url}],
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1}],
        }
    )
    any_store.write([span("acme", T0 - timedelta(minutes=5), cost_usd=3.0)])
    first, second = (AlertEngine(any_store, config, holder=h) for h in ("a", "b"))
    try:
        # A lease that changed hands mid-interval: both replicas run a pass in 12:00-12:01.
        mine = first.evaluate_once(T0 + timedelta(seconds=10), claim=True)
        theirs = second.evaluate_once(T0 + timedelta(seconds=50), claim=True)
        assert not mine.claimed_by_other and mine.enqueued == 1
        assert theirs.claimed_by_other and theirs.notices == [] and theirs.transitions == []
        # The next interval is free again.
        later = second.evaluate_once(T0 + timedelta(seconds=70), claim=True)
        assert not later.claimed_by_other and later.rules == 1
    finally:
        first.close()  # close drains the notifier queues
        second.close()
    assert [(b["status"], len(b["alerts"])) for b in receiver.bodies] == [("firing", 1)]


def test_every_tenant_gets_its_digest_when_more_are_due_than_the_queue_holds(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    # Every due digest used to be built and queued in the pass that found it due: with 5,000
    # tenants the pass took minutes, and the queue (1,000) dropped 4,000 digests that were
    # claimed, so never sent. A pass now claims only what its notifiers' queues take.
    hook = receiver_factory("hold")  # its first digest holds the notifier until released
    config = parse_config(
        {
            "queue_size": 4,
            "notifiers": [{"name": "hook", "type": "webhook", "url": hook.url}],
            "digest": {"enabled": True, "hour": 8, "timezone": "UTC"},
        }
    )
    tenants = [f"tenant-{n:02d}" for n in range(12)]
    for tenant in tenants:
        store.write([span(tenant, T0 - timedelta(days=1), model="gpt", cost_usd=1.0)])
    engine = AlertEngine(store, config)
    try:
        claimed = engine.evaluate_once(T0).digests
        hook.wait_for(1)  # the notifier holds the first one: nothing leaves the queue
        claimed += engine.evaluate_once(T0 + timedelta(seconds=15)).digests
        hook.release.set()
        for k in range(2, 2 + len(tenants)):
            assert engine.dispatcher.drain(10)
            claimed += engine.evaluate_once(T0 + timedelta(seconds=15 * k)).digests
        assert engine.dispatcher.drain(10)
    finally:
        engine.close()
    sent = sorted(body["tenant"] for body in hook.bodies if body["type"] == "digest")
    assert sent == tenants  # each once
    assert sorted(claimed) == tenants
    assert engine.dispatcher.stats.get("hook", "dropped") == 0


async def test_a_process_that_loses_the_lease_reports_nothing_waiting(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    # The waiting gauges were set only by a pass that evaluated: a worker that lost the lease
    # kept reporting its last backlog, and a multi-process gauge (livemax) showed the largest
    # of the workers' however the lease holder drained it.
    held = receiver_factory("hold")  # holds the first message: the others wait
    config = parse_config(
        {
            "evaluation_interval": "0.05s",
            "queue_size": 1,
            "group_by": ["rule", "tenant"],
            "notifiers": [{"name": "hook", "type": "webhook", "url": held.url}],
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1}],
        }
    )
    now = datetime.now(UTC) - timedelta(minutes=1)
    store.write([span(f"t{n}", now, cost_usd=3.0) for n in range(4)])
    reports: list[EvaluationReport] = []
    engine = AlertEngine(store, config, holder="me", on_pass=reports.append)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await wait_until(lambda: bool(reports) and reports[-1].waiting.get("hook", (0,))[0] > 0)
        store.release_lease(LEASE_NAME, "me")
        assert store.try_acquire_lease(LEASE_NAME, "other-replica", 60)
        skipped = engine.passes["skipped_no_lease"]
        await wait_until(lambda: engine.passes["skipped_no_lease"] > skipped)
        assert reports[-1].waiting == {}
    finally:
        held.release.set()
        stop.set()
        await asyncio.wait_for(task, 5)
        engine.close()
