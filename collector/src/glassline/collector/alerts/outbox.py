"""What each notifier is owed: a pass's notices kept in the store until their notifier has them.

A pass writes its notices here (``alert_deliveries``, one row per notifier x alert) in the
transaction that decides them, so a restart or another replica knows what is still owed. It then
offers each notifier the groups it is owed, oldest first, as many as its queue takes; the others
wait for the next passes. The dispatcher reports each message's outcome and the next pass
settles it: delivered or rejected (a 4xx) rows are deleted, failed ones (after the notifier's
retries) are owed again. A newer notice of an alert replaces the row (a resolution supersedes
the firing notice still waiting), so what a notifier is owed never outgrows the alerts.

Before, a notification a full queue could not take was dropped, and sent again only at its
alert's ``repeat_interval`` (4 h): 5,000 tenants x 4 rules firing at once lost 19,000 of 20,000.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from glassline.collector.alerts.config import AlertsConfig
from glassline.collector.alerts.models import RESOLVED, AlertDelivery
from glassline.collector.alerts.notifiers import FAILED, Outcome
from glassline.collector.alerts.payloads import alert_json, group_notices, webhook_body
from glassline.collector.alerts.state import Notice, Transition

__all__ = [
    "Message",
    "Ticket",
    "due_messages",
    "mark_given",
    "prune",
    "record",
    "refresh",
    "release",
    "settle",
    "waiting",
]

_CHUNK = 500  # values named in one IN list (four columns a row at most: 2,000 parameters)
_T = AlertDelivery.__table__
_PK = (_T.c.notifier, _T.c.rule, _T.c.tenant, _T.c.key)


@dataclass(frozen=True, slots=True)
class Ticket:
    """The rows a message carries: (rule, tenant, key, decided_at) for one notifier."""

    notifier: str
    rows: tuple[tuple[str, str, str, int], ...]


@dataclass(frozen=True, slots=True)
class Message:
    ticket: Ticket
    body: dict[str, Any]


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def record(
    session: Session,
    config: AlertsConfig,
    notices: Sequence[Notice],
    transitions: Iterable[Transition],
    now: int,
) -> None:
    """Owe each of its notifiers every notice (replacing what was owed of the same alert), and
    forget the firing notices still owed of alerts that resolved without a notice of their own
    (``send_resolved: false``), as Alertmanager does not send an alert no longer active."""
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for group in group_notices(config, notices):
        group_key = json.dumps(group.labels, sort_keys=True)
        for notice in group.notices:
            rows[(group.notifier, notice.rule.name, notice.tenant, notice.key)] = {
                "group_key": group_key,
                "state": notice.state,
                "alert": alert_json(notice, config.dashboard_url),
                "decided_at": now,
            }
    _owe(session, rows, now)
    _forget_resolved(session, notices, transitions)


def _owe(session: Session, rows: dict[tuple[str, str, str, str], dict[str, Any]], now: int) -> None:
    """Insert ``rows`` (by primary key), or update those owed already: they keep their place."""
    owed = _existing(session, {pk[1] for pk in rows})
    changed = [{**_pk_params(pk), **row} for pk, row in rows.items() if pk in owed]
    if changed:
        replaced: dict[str, Any] = {
            c: bindparam(c) for c in ("group_key", "state", "alert", "decided_at")
        }
        session.execute(
            update(_T)
            .where(*(c == bindparam(f"b_{c.name}") for c in _PK))
            .values(**replaced, given_at=None, giver=None, attempts=0),
            changed,
        )
    new = [
        {**dict(zip(("notifier", "rule", "tenant", "key"), pk, strict=True)), **row}
        for pk, row in rows.items()
        if pk not in owed
    ]
    if new:
        session.execute(insert(_T).values(due_since=now, attempts=0), new)


def _forget_resolved(
    session: Session, notices: Sequence[Notice], transitions: Iterable[Transition]
) -> None:
    noticed = {(n.rule.name, n.tenant, n.key) for n in notices}
    gone = [
        {"b_rule": t.rule, "b_tenant": t.tenant, "b_key": t.key}
        for t in transitions
        if t.to_state == RESOLVED and (t.rule, t.tenant, t.key) not in noticed
    ]
    if gone:
        session.execute(
            delete(_T).where(
                _T.c.rule == bindparam("b_rule"),
                _T.c.tenant == bindparam("b_tenant"),
                _T.c.key == bindparam("b_key"),
                _T.c.state == "firing",
            ),
            gone,
        )


def _pk_params(pk: tuple[str, str, str, str]) -> dict[str, str]:
    # Prefixed: a bound parameter named as a column clashes with the column an UPDATE sets.
    return {f"b_{c.name}": v for c, v in zip(_PK, pk, strict=True)}


def _ticket_params(ticket: Ticket) -> list[dict[str, Any]]:
    """Bound parameters of :func:`_same_notice`, one set per row ``ticket`` carries."""
    return [
        {**_pk_params((ticket.notifier, rule, tenant, key)), "b_decided_at": decided_at}
        for rule, tenant, key, decided_at in ticket.rows
    ]


def _same_notice() -> list[ColumnElement[bool]]:
    """The row a ticket carried, still at the notice it carried (a newer one replaced it else)."""
    return [
        *(c == bindparam(f"b_{c.name}") for c in _PK),
        _T.c.decided_at == bindparam("b_decided_at"),
    ]


def _existing(session: Session, rules: Collection[str]) -> set[tuple[str, str, str, str]]:
    if not rules:
        return set()
    found = session.execute(select(*_PK).where(_T.c.rule.in_(sorted(rules))))
    return {(r[0], r[1], r[2], r[3]) for r in found}


def settle(session: Session, outcomes: Iterable[Outcome]) -> None:
    """Delete the rows a message delivered (or that a notifier rejected for good), and owe again
    those it failed to deliver; a row replaced since by a newer notice stays as it is."""
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for ticket, outcome in outcomes:
        (failed if outcome == FAILED else done).extend(_ticket_params(ticket))
    same = _same_notice()
    if done:
        session.execute(delete(_T).where(*same), done)
    if failed:
        session.execute(
            update(_T).where(*same).values(given_at=None, giver=None, attempts=_T.c.attempts + 1),
            failed,
        )


def _due(givers: Collection[str], stale_before: int) -> ColumnElement[bool]:
    """Not given, or given to another dispatcher that stopped saying it still holds it (its
    collector stopped, or lost the lease and delivered its queue since)."""
    theirs = and_(_T.c.giver.not_in(list(givers)), _T.c.given_at < stale_before)
    return or_(_T.c.given_at.is_(None), theirs)


def refresh(conn: Connection | Session, givers: Collection[str], now: int) -> None:
    """Say that ``givers`` still hold what was given to them (see :func:`_due`)."""
    conn.execute(update(_T).where(_T.c.giver.in_(list(givers))).values(given_at=now))


def release(conn: Connection | Session, givers: Collection[str]) -> None:
    """What ``givers`` were given and did not deliver is owed again (they are stopping)."""
    conn.execute(update(_T).where(_T.c.giver.in_(list(givers))).values(given_at=None, giver=None))


def due_messages(
    conn: Connection, notifier: str, givers: Collection[str], stale_before: int, limit: int
) -> list[Message]:
    """The ``limit`` groups ``notifier`` has been owed longest, one message each."""
    if limit <= 0:
        return []
    due = and_(_T.c.notifier == notifier, _due(givers, stale_before))
    keys = conn.scalars(
        select(_T.c.group_key)
        .where(due)
        .group_by(_T.c.group_key)
        .order_by(func.min(_T.c.due_since), _T.c.group_key)
        .limit(limit)
    ).all()
    rows: dict[str, list[Any]] = {k: [] for k in keys}
    for chunk in _chunks(keys):
        found = conn.execute(
            select(_T.c.group_key, _T.c.rule, _T.c.tenant, _T.c.key, _T.c.decided_at, _T.c.alert)
            .where(due, _T.c.group_key.in_(chunk))
            .order_by(_T.c.due_since, _T.c.rule, _T.c.tenant, _T.c.key)
        )
        for row in found:
            rows[row.group_key].append(row)
    return [
        Message(
            Ticket(notifier, tuple((r.rule, r.tenant, r.key, r.decided_at) for r in group)),
            webhook_body(notifier, json.loads(key), [r.alert for r in group]),
        )
        for key, group in rows.items()
    ]


def mark_given(
    conn: Connection, messages: Sequence[Message], giver: str, now: int, *, given: bool = True
) -> None:
    """Record ``messages`` as in ``giver``'s queue (or, with ``given=False``, as owed again)."""
    params = [p for m in messages for p in _ticket_params(m.ticket)]
    if params:
        conn.execute(
            update(_T)
            .where(*_same_notice())
            .values(given_at=now if given else None, giver=giver if given else None),
            params,
        )


def waiting(
    conn: Connection, givers: Collection[str], stale_before: int
) -> dict[str, tuple[int, int]]:
    """Per notifier, how many alerts it is owed that no queue holds, and since when (oldest)."""
    found = conn.execute(
        select(_T.c.notifier, func.count(), func.min(_T.c.due_since))
        .where(_due(givers, stale_before))
        .group_by(_T.c.notifier)
    )
    return {name: (count, oldest) for name, count, oldest in found}


def prune(session: Session, config: AlertsConfig, cutoff: int) -> None:
    """Forget what is owed to notifiers or of rules a reload removed, or owed since ``cutoff``."""
    notifiers = [n.name for n in config.notifiers]
    rules = [r.name for r in config.rules]
    session.execute(
        delete(_T).where(
            or_(
                _T.c.notifier.not_in(notifiers),
                _T.c.rule.not_in(rules),
                _T.c.due_since < cutoff,
            )
        )
    )
