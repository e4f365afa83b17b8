"""Delivery: retries with backoff, Slack payloads, grouping, and hung webhooks that block nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.alerts.payloads import alert_text, slack_message
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import FLOOD_BYTES, T0, Receiver

Span = Callable[..., SpanRecord]


def config(notifiers: list[dict[str, Any]], **rule: Any) -> Any:
    return parse_config(
        {
            "repeat_interval": "1m",
            "notifiers": notifiers,
            "rules": [{"name": "spend", "kind": "budget", "window": "1h", "limit_usd": 1, **rule}],
        }
    )


def test_hanging_webhook_does_not_delay_evaluation_or_other_notifiers(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    hung, healthy = receiver_factory("hang"), receiver_factory("ok")
    engine = AlertEngine(
        store,
        config(
            [
                {
                    "name": "hung",
                    "type": "webhook",
                    "url": hung.url,
                    "timeout": "60s",
                    "max_retries": 0,
                },
                {"name": "ok", "type": "webhook", "url": healthy.url},
            ]
        ),
    )
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        hung.wait_for(1)  # the hung endpoint holds the request and never answers
        report = engine.evaluate_once(T0 + timedelta(minutes=2))  # a repeat is due
        assert report.enqueued == 2 and report.dropped == 0
        assert [b["alerts"][0]["repeat"] for b in healthy.wait_for(2)] == [False, True]
        assert engine.dispatcher.drain(10, ["ok"])
        assert engine.dispatcher.stats.get("ok", "sent") == 2
        assert engine.dispatcher.stats.get("hung", "sent") == 0  # still waiting on the first
    finally:
        hung.release.set()
        engine.close()


def test_a_webhook_that_drips_its_answer_is_cut_at_the_timeout(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    # Each byte comes well within the timeout, so per-read timeouts never fire: before, the
    # worker waited as long as the endpoint kept dripping, and later alerts were dropped.
    drip = receiver_factory("drip")
    hook = {"name": "d", "type": "webhook", "url": drip.url, "timeout": "1s", "max_retries": 0}
    engine = AlertEngine(store, config([hook]))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        assert engine.dispatcher.drain(30), "the dripping answer still holds the worker"
        assert engine.dispatcher.stats.get("d", "failed") == 1
        assert not drip.release.is_set()  # cut by the notifier, not by the endpoint giving up
    finally:
        engine.close()


@pytest.mark.parametrize("status", [200, 500])
def test_a_webhook_answer_is_judged_by_its_status_without_reading_its_body(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span, status: int
) -> None:
    # A webhook URL that serves a file or an endless stream: 2 GB took the collector to 4.2 GB.
    flood = receiver_factory("flood" if status == 200 else "flood-fail")
    hook = {"name": "f", "type": "webhook", "url": flood.url, "max_retries": 0}
    engine = AlertEngine(store, config([hook]))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        assert flood.wait_flooded() < FLOOD_BYTES // 4  # the client hung up early
        assert engine.dispatcher.drain(10)
        outcome = "sent" if status == 200 else "failed"
        assert engine.dispatcher.stats.get("f", outcome) == 1
    finally:
        engine.close()


def test_a_full_queue_keeps_the_notification_owed_instead_of_blocking(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    hung = receiver_factory("hang")
    cfg = config(
        [{"name": "hung", "type": "webhook", "url": hung.url, "timeout": "60s", "max_retries": 0}]
    )
    engine = AlertEngine(store, cfg.model_copy(update={"queue_size": 1}))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        hung.wait_for(1)  # the worker is stuck on the first message
        engine.evaluate_once(T0 + timedelta(minutes=1))  # fills the one queue slot
        report = engine.evaluate_once(T0 + timedelta(minutes=2))
        # Owed to the notifier since the first pass, as the store says; nothing dropped.
        assert (report.enqueued, report.dropped) == (0, 0)
        assert report.waiting == {"hung": (1, int(T0.timestamp()))}
        assert engine.dispatcher.stats.get("hung", "dropped") == 0
    finally:
        hung.release.set()
        engine.close()


def test_a_pass_logs_the_notifications_left_waiting_once_with_their_count(
    store: Store,
    receiver_factory: Callable[[str], Receiver],
    span: Span,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # One warning a message before: 5,000 tenants firing at once logged 18,000 lines.
    hung = receiver_factory("hang")
    cfg = config(
        [{"name": "hung", "type": "webhook", "url": hung.url, "timeout": "60s", "max_retries": 0}]
    )
    engine = AlertEngine(store, cfg.model_copy(update={"queue_size": 1}))
    tenants = [f"tenant-{n}" for n in range(6)]
    try:
        store.write([span(t, T0 - timedelta(minutes=1), cost_usd=2.0) for t in tenants[:1]])
        engine.evaluate_once(T0)
        hung.wait_for(1)  # the worker is stuck on the first message
        store.write([span(t, T0, cost_usd=2.0) for t in tenants[1:]])
        with caplog.at_level(logging.WARNING, logger="glassline.collector.alerts"):
            report = engine.evaluate_once(T0 + timedelta(seconds=30))  # a message a tenant
        assert (report.enqueued, report.dropped) == (1, 0)
        waiting = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
        assert len(waiting) == 1 and "hung 4 (oldest 0 s)" in waiting[0]
    finally:
        hung.release.set()
        engine.close()


def test_failing_webhook_is_retried_with_backoff_then_counted(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    failing = receiver_factory("fail")
    hook = {"name": "f", "type": "webhook", "url": failing.url, "max_retries": 2, "backoff": "10ms"}
    engine = AlertEngine(store, config([hook]))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        bodies = failing.wait_for(3)  # the first attempt and two retries
        assert bodies[0] == bodies[1] == bodies[2]
        assert engine.dispatcher.drain(10)
        assert engine.dispatcher.stats.get("f", "failed") == 1
    finally:
        engine.close()


def test_a_redirect_is_a_failed_delivery_not_retried(
    store: Store, receiver_factory: Callable[[str], Receiver], span: Span
) -> None:
    moved = receiver_factory("moved")  # an http:// URL whose server sends to https://, say
    hook = {"name": "m", "type": "webhook", "url": moved.url, "max_retries": 2, "backoff": "10ms"}
    engine = AlertEngine(store, config([hook]))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.0)])
        engine.evaluate_once(T0)
        assert engine.dispatcher.drain(10)
        assert engine.dispatcher.stats.get("m", "failed") == 1 and len(moved.bodies) == 1
    finally:
        engine.close()


def test_slack_notifier_sends_an_incoming_webhook_message(
    store: Store, receiver: Receiver, span: Span
) -> None:
    engine = AlertEngine(
        store,
        config(
            [{"name": "slack", "type": "slack", "url": receiver.url}],
            annotations={"summary": "{tenant} is over budget"},
        ),
    )
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=2.5)])
        engine.evaluate_once(T0)
        message = receiver.wait_for(1)[0]
    finally:
        engine.close()
    text = (
        "[FIRING] :rotating_light: *spend* firing (critical): value $2.50 vs threshold $1.00 "
        "[tenant=acme]\n>acme is over budget"
    )
    assert message == {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def test_alerts_of_one_rule_and_tenant_are_grouped_into_one_message(
    store: Store, receiver: Receiver, span: Span
) -> None:
    engine = AlertEngine(
        store, config([{"name": "hook", "type": "webhook", "url": receiver.url}], per="model")
    )
    try:
        at = T0 - timedelta(minutes=1)
        store.write([span("acme", at, model=m, cost_usd=2.0) for m in ("a", "b", "c")])
        store.write([span("zeta", at, model="a", cost_usd=2.0)])
        report = engine.evaluate_once(T0)
        bodies = receiver.wait_for(2)
        assert engine.dispatcher.drain(10)
    finally:
        engine.close()
    assert report.enqueued == 2 and len(receiver.bodies) == 2
    grouped = {
        b["group_labels"]["tenant"]: sorted(a["labels"]["model"] for a in b["alerts"])
        for b in bodies
    }
    assert grouped == {"acme": ["a", "b", "c"], "zeta": ["a"]}


def _logged_notifications(
    store: Store, span: Span, caplog: pytest.LogCaptureFixture, cost_usd: float, **rule: Any
) -> list[str]:
    """The log notifier's lines after one evaluation of a spend of ``cost_usd`` for acme."""
    engine = AlertEngine(store, config([{"name": "log", "type": "log"}], **rule))
    try:
        store.write([span("acme", T0 - timedelta(minutes=1), cost_usd=cost_usd)])
        with caplog.at_level(logging.WARNING, logger="glassline.collector.alerts.notifiers"):
            engine.evaluate_once(T0)
            assert engine.dispatcher.drain(10)
    finally:
        engine.close()
    return [r.getMessage() for r in caplog.records if "alert notification" in r.getMessage()]


def test_log_notifier_logs_the_payload(
    store: Store, span: Span, caplog: pytest.LogCaptureFixture
) -> None:
    lines = _logged_notifications(store, span, caplog, cost_usd=2.0)
    assert len(lines) == 1 and '"rule": "spend"' in lines[0] and '"state": "firing"' in lines[0]


def test_log_notifier_says_a_budget_in_dollars_and_keeps_the_payload_raw(
    store: Store, span: Span, caplog: pytest.LogCaptureFixture
) -> None:
    # `make demo`'s terminal read "value": 0.5386 for an hourly budget of $0.50.
    [line] = _logged_notifications(store, span, caplog, cost_usd=0.5386, warn_usd=0.5)
    assert "spend firing (warning): value $0.539 vs threshold $0.50 [tenant=acme]" in line
    payload = json.loads(line[line.index("{") :])
    alert = payload["alerts"][0]
    assert (alert["value"], alert["threshold"], alert["unit"]) == (0.5386, 0.5, "usd")


def test_slack_shows_a_labels_text_as_sent_not_as_a_mention_or_a_link() -> None:
    # A stage or model is the app's text: unescaped, "<!channel>" in one notified a whole
    # channel, and "<https://...|Open in dashboard>" put a second, foreign link in the alert.
    alert = {
        "rule": "p95", "state": "firing", "severity": "warning", "unit": "ms",
        "value": 800.0, "threshold": 500.0,
        "labels": {"stage": "<!channel> <https://evil.example|Open in dashboard> & co"},
        "annotations": {"summary": "stage <!here> is slow"},
        "link": "https://dash.example/traces?stage=x",
    }  # fmt: skip
    text = slack_message({"type": "alert", "status": "firing", "alerts": [alert]})["text"]
    assert "<!" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|Open in dashboard&gt; &amp; co" in text
    assert "stage &lt;!here&gt; is slow" in text
    assert text.count("|Open in dashboard>") == 1  # the dashboard's own link, kept
    digest = slack_message({"type": "digest", "text": "model <!everyone>: $1.00"})["text"]
    assert digest == "model &lt;!everyone&gt;: $1.00"


def test_a_labels_control_characters_are_escaped_so_an_alert_stays_one_line() -> None:
    # A newline in a stage name started a line of its own in the collector's log.
    alert = {
        "rule": "p95", "state": "firing", "severity": "warning", "unit": "ms",
        "value": 800.0, "threshold": 500.0,
        "labels": {"stage": "gen\n2026-12-06 00:00:00 ERROR forged\x00"},
    }  # fmt: skip
    text = alert_text(alert)
    assert "\n" not in text and "\x00" not in text
    assert "stage=gen\\n2026-12-06 00:00:00 ERROR forged\\x00" in text


def test_a_slack_message_of_a_large_group_shows_whole_alerts_then_how_many_more() -> None:
    # A per-user budget's 10,000 alerts in one group made a 1.5 MB message, its section
    # (Slack takes 3,000 characters) cut in the middle of an alert and of its link.
    alerts = [
        {"rule": "per-user", "state": "firing", "severity": "critical", "unit": "usd",
         "value": 1.25, "threshold": 1.0, "labels": {"tenant": "acme", "user": f"user-{n}"},
         "annotations": {}, "link": f"https://dash.example/traces?user=user-{n}"}
        for n in range(10_000)
    ]  # fmt: skip
    message = slack_message({"type": "alert", "status": "firing", "alerts": alerts})
    section = message["blocks"][0]["text"]["text"]
    assert message["text"] == section and len(section) <= 3_000
    *lines, more = section.split("\n")
    shown = [line for line in lines if line.startswith(("[FIRING] :rotating", ":rotating"))]
    assert len(shown) == section.count("|Open in dashboard>") > 5  # whole alerts, links whole
    assert more == f"…and {10_000 - len(shown):,} more alerts in this group"


def test_a_webhook_takes_at_most_max_alerts_a_message_and_is_told_how_many_were_left_out(
    store: Store, receiver: Receiver, span: Span
) -> None:
    hook = {"name": "hook", "type": "webhook", "url": receiver.url, "max_alerts": 2}
    engine = AlertEngine(store, config([hook], per="user"))
    try:
        at = T0 - timedelta(minutes=1)
        store.write([span("acme", at, user_id=f"u{n}", cost_usd=2.0) for n in range(5)])
        engine.evaluate_once(T0)
        [body] = receiver.wait_for(1)
    finally:
        engine.close()
    assert len(body["alerts"]) == 2 and body["truncated_alerts"] == 3
