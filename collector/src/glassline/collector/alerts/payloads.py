"""What notifiers send: the webhook JSON, the Slack incoming-webhook message, the log line.

Notices of one evaluation are grouped by notifier and the config's ``group_by`` labels, so
one breach across many keys arrives as one message listing every alert.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from glassline.collector.alerts.config import AlertsConfig
from glassline.collector.alerts.state import Notice
from glassline.collector.alerts.units import format_value, unit_of

__all__ = [
    "Group",
    "alert_json",
    "alert_text",
    "dashboard_link",
    "group_notices",
    "slack_message",
    "webhook_body",
]

PAYLOAD_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Group:
    notifier: str
    labels: dict[str, str]
    notices: tuple[Notice, ...]


def iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def labels_of(notice: Notice) -> dict[str, str]:
    return {"tenant": notice.tenant, **notice.dims, **notice.rule.labels}


def group_notices(config: AlertsConfig, notices: Iterable[Notice]) -> list[Group]:
    """Notices bucketed per notifier (a rule's list, or every notifier) and group labels."""
    every = [n.name for n in config.notifiers]
    buckets: dict[tuple[str, tuple[tuple[str, str], ...]], list[Notice]] = {}
    for notice in notices:
        labels = {"rule": notice.rule.name, "severity": notice.severity, **labels_of(notice)}
        key = tuple((g, labels.get(g, "")) for g in config.group_by)
        for name in notice.rule.notifiers if notice.rule.notifiers is not None else every:
            buckets.setdefault((name, key), []).append(notice)
    return [Group(name, dict(key), tuple(items)) for (name, key), items in buckets.items()]


# The dashboard's time-range presets (``glassline.dashboard.window.RANGES``), shortest first.
_DASHBOARD_RANGES = (("1h", 3600), ("6h", 21600), ("24h", 86400), ("7d", 604800), ("30d", 2592000))


def dashboard_link(base: str | None, notice: Notice) -> str | None:
    """The dashboard's alerts page on the breach: tenant, rule, keys, and a range ending at it.

    ``range`` is the shortest dashboard preset covering the evaluated window and ``end`` its
    end (Unix seconds), the parameters the dashboard's pages read.
    """
    if not base:
        return None
    query: dict[str, Any] = {"tenant": notice.tenant, "rule": notice.rule.name, **notice.dims}
    if notice.window is not None:
        length = notice.window.end - notice.window.start
        query["range"] = next((n for n, s in _DASHBOARD_RANGES if length <= s), "30d")
        query["end"] = notice.window.end
    return f"{base.rstrip('/')}/alerts?{urlencode(query)}"


def alert_json(notice: Notice, dashboard_url: str | None) -> dict[str, Any]:
    return {
        "rule": notice.rule.name,
        "kind": notice.rule.kind,
        "state": notice.state,
        "severity": notice.severity,
        "value": notice.value,
        "threshold": notice.threshold,
        "unit": unit_of(notice.rule),  # of value and threshold (glassline.collector.alerts.units)
        "labels": labels_of(notice),
        "annotations": notice.annotations,
        "starts_at": iso(notice.starts_at),
        "ends_at": iso(notice.ends_at),
        "repeat": notice.repeat,
        "link": dashboard_link(dashboard_url, notice),
    }


def webhook_body(
    notifier: str, labels: Mapping[str, str], alerts: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """One message of a group: its ``alerts`` as :func:`alert_json` made them."""
    firing = any(a["state"] == "firing" for a in alerts)
    return {
        "version": PAYLOAD_VERSION,
        "type": "alert",
        "receiver": notifier,
        "status": "firing" if firing else "resolved",
        "group_labels": dict(labels),
        "alerts": list(alerts),
    }


def alert_text(alert: Mapping[str, Any]) -> str:
    """One alert of a payload as a person reads it: its value and threshold in their unit, on
    one line (the log's and Slack's)."""
    unit = alert.get("unit", "")
    where = ", ".join(f"{k}={_one_line(v)}" for k, v in alert["labels"].items())
    return (
        f"value {format_value(unit, alert['value'])} vs threshold "
        f"{format_value(unit, alert['threshold'])} [{where}]"
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: Any) -> str:
    """A label's value with its control characters as escapes: a stage is the app's text, and a
    newline in one started a line of its own in the collector's log, which read as its own."""
    return _CONTROL.sub(lambda c: c.group().encode("unicode_escape").decode(), str(value))


def _slack_text(text: str) -> str:
    """``text`` as Slack shows it, not as its markup: Slack reads ``<...>`` as a link or a
    mention (``<!channel>`` notifies everyone in it) and ``&`` as an entity. A label's value is
    the app's text (a stage, a model): escaped as Slack's docs ask, it reads as sent."""
    return html.escape(text, quote=False)


def _line(alert: Mapping[str, Any]) -> str:
    icon = ":white_check_mark:" if alert["state"] == "resolved" else ":rotating_light:"
    text = f"{icon} *{_slack_text(alert['rule'])}* {alert['state']} ({alert['severity']}): "
    text += _slack_text(alert_text(alert))
    summary = alert["annotations"].get("summary")
    if summary:
        text += f"\n>{_slack_text(summary)}"
    if alert["link"]:
        text += f"\n<{alert['link']}|Open in dashboard>"
    return text


# Slack takes at most 3,000 characters in a section block: a group of a per-user budget's
# 10,000 alerts made a message of 1.5 MB, cut mid-line (and mid-link) in its block.
_SLACK_SECTION = 2900


def slack_message(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message (``text`` + mrkdwn section blocks): the
    group's alerts that fit in one section, whole lines, then how many more there are."""
    if body.get("type") == "digest":
        text = _slack_text(body["text"])
        section = text[:_SLACK_SECTION]
    else:
        text = _fitted(f"[{body['status'].upper()}] ", [_line(a) for a in body["alerts"]])
        section = text[:_SLACK_SECTION]  # cut only when the first alert alone is longer
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
    }


def _fitted(head: str, lines: list[str]) -> str:
    text = head
    for shown, line in enumerate(lines):
        more = f"\n…and {len(lines) - shown:,} more alerts in this group"
        if len(text) + 1 + len(line) + len(more) > _SLACK_SECTION and shown:
            return text + more
        text += ("\n" if shown else "") + line
    return text
