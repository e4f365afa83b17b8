"""Giving the notifiers what they are owed: the engine decides, this delivers.

What each notifier is owed is written with the alert states (:mod:`outbox`) and offered as its
:class:`Dispatcher` queue has room, oldest first, so a full queue delays a notification but
never loses it. What the queues delivered (or failed to) is recorded as it comes back. Between
passes, a notifier whose queue is half empty again while it is owed more is given more at once
(:meth:`Delivery.refill`): before, a notifier got at most ``queue_size`` messages a pass, so a
storm of 20,000 took 20 passes (5 minutes at 15 s) to go out to a webhook that takes 500 a
second.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from glassline.collector.alerts import digest as digests
from glassline.collector.alerts import outbox
from glassline.collector.alerts.config import AlertsConfig
from glassline.collector.alerts.notifiers import Dispatcher, Outcome
from glassline.collector.alerts.report import EvaluationReport

__all__ = ["DIGESTS_PER_PASS", "Delivery", "lease_ttl"]

_log = logging.getLogger(__name__)
# Digests a pass builds at most. Every tenant's digest was built in the pass that found it due
# and queued at once: with 5,000 tenants the pass took minutes (no rule evaluated meanwhile),
# and the queue of 1,000 dropped 4,000 digests that were claimed, so never sent.
DIGESTS_PER_PASS = 100


def lease_ttl(config: AlertsConfig) -> float:
    """The lease outlives one interval so a live holder keeps it between passes; what another
    collector was given and has not said it still holds for as long is owed again."""
    return config.evaluation_interval.total_seconds() * 2 + 5


class Delivery:
    """This collector's notifier queues, and what they were given and delivered."""

    def __init__(
        self, read_engine: Engine, write_engine: Engine, config: AlertsConfig, holder: str
    ) -> None:
        self._read_engine = read_engine
        self._write_engine = write_engine
        self.config = config
        self.holder = holder
        self.dispatcher = Dispatcher(config, on_room=self._room_freed)
        # Dispatchers a reload replaced, while their workers still deliver their queues.
        self._retiring: list[Dispatcher] = []
        self._outcomes: list[Outcome] = []  # taken from the dispatchers, not yet settled
        self._owed: frozenset[str] = frozenset()  # notifiers the last offer left alerts owed
        self.wake: Callable[[], object] | None = None  # called when a queue has room for them

    def outcomes(self) -> list[Outcome]:
        """What the queues delivered since the last :meth:`settled`, for the caller's
        transaction to record (``outbox.settle``); kept until that commits."""
        self._outcomes += self._take_outcomes()
        return self._outcomes

    def settled(self) -> None:
        """The transaction that recorded :meth:`outcomes` committed."""
        self._outcomes.clear()

    def offer(self, report: EvaluationReport, now: datetime) -> None:
        """Give each notifier the oldest groups it is owed, as many as its queue takes."""
        now_s, givers = int(now.timestamp()), self._givers()
        stale_before = self._stale_before(now_s)
        if self._busy():  # else nothing of ours is in a queue: spare SQLite's write lock
            with self._write_engine.begin() as conn:
                outbox.refresh(conn, givers, now_s)
        for notifier in self.config.notifiers:
            name = notifier.name
            room = self.dispatcher.room(name)
            with self._read_engine.connect() as conn:
                messages = outbox.due_messages(conn, name, givers, stale_before, room)
            if not messages:
                continue
            # Recorded as given before they are: a message the store does not know was given
            # would be given again.
            with self._write_engine.begin() as conn:
                outbox.mark_given(conn, messages, self.dispatcher.id, now_s)
            refused = [m for m in messages if not self._submit(report, name, m.body, m.ticket)]
            if refused:
                with self._write_engine.begin() as conn:
                    outbox.mark_given(conn, refused, self.dispatcher.id, now_s, given=False)
        with self._read_engine.connect() as conn:
            report.waiting = outbox.waiting(conn, givers, stale_before)
        self._owed = frozenset(report.waiting)

    def send_digests(self, report: EvaluationReport, now: datetime) -> None:
        """Queue the daily digests that are due, as many as leave half of each queue free."""
        settings = self.config.digest
        if not settings.enabled:
            return
        names = settings.notifiers or [n.name for n in self.config.notifiers]
        # A digest is claimed only if every notifier's queue takes it, and digests leave half
        # of each queue to the alerts of the passes to come.
        room = min(
            (self.dispatcher.room(n) - self.config.queue_size // 2 for n in names), default=0
        )
        try:
            due = digests.due_digests(
                self._write_engine, settings, now, self.holder, limit=min(room, DIGESTS_PER_PASS)
            )
            for tenant, body in due:
                report.digests.append(tenant)
                for name in names:
                    self._submit(report, name, {**body, "receiver": name})
        except Exception as exc:
            _log.exception("daily digest failed")
            report.errors.append(f"digest: {type(exc).__name__}: {exc}")

    def refill(self, now: datetime) -> EvaluationReport:
        """Between passes: record what the queues delivered, then give each notifier the
        oldest groups it is owed, as many as its queue takes (no rule is evaluated)."""
        report = EvaluationReport(evaluated_at=now)
        if self.outcomes():
            with Session(self._write_engine) as session:
                outbox.settle(session, self._outcomes)
                session.commit()
            self.settled()
        self.offer(report, now)
        return report

    def keep_given(self, now: datetime) -> None:
        """Off the lease: record what this collector's queues delivered, and say they still
        hold the rest, so the lease holder does not send it again."""
        if not self.outcomes() and not self._busy():
            return
        with Session(self._write_engine) as session:
            outbox.settle(session, self._outcomes)
            outbox.refresh(session, self._givers(), int(now.timestamp()))
            session.commit()
        self.settled()

    def reload(self, new: AlertsConfig) -> None:
        """Take a reloaded config; new notifiers or queue sizes get new queues."""
        old_dispatcher = self.dispatcher
        if new.notifiers != self.config.notifiers or new.queue_size != self.config.queue_size:
            self.dispatcher = Dispatcher(new, on_room=self._room_freed)
            # reload runs in the server's event loop: let the old queues drain off it; what
            # they deliver is settled by the next passes.
            self._retiring.append(old_dispatcher)
            threading.Thread(target=old_dispatcher.close, daemon=True).start()
        self.config = new

    def close(self, timeout: float = 5.0) -> None:
        """Stop the notifier workers (queued messages get ``timeout`` seconds to go out), record
        what they delivered, and owe the rest again (to the next collector)."""
        self.dispatcher.close(timeout)
        givers = self._givers()
        outcomes = self._outcomes + self._take_outcomes()
        try:
            with Session(self._write_engine) as session:
                outbox.settle(session, outcomes)
                outbox.release(session, givers)
                session.commit()
        except Exception:  # the store failed: what was given is owed again once it looks stale
            _log.exception("alert deliveries not recorded at close")

    def _submit(
        self, report: EvaluationReport, notifier: str, body: dict[str, Any], ticket: Any = None
    ) -> bool:
        if self.dispatcher.submit(notifier, body, ticket):
            report.enqueued += 1
            return True
        report.dropped += 1
        return False

    def _take_outcomes(self) -> list[Outcome]:
        """What the dispatchers delivered since the last call; forgets retired ones done."""
        taken = self.dispatcher.take_outcomes()
        for old in list(self._retiring):
            alive = old.alive()  # before taking: a worker may report, then end
            taken += old.take_outcomes()
            if not alive:
                self._retiring.remove(old)
        return taken

    def _givers(self) -> list[str]:
        """The dispatchers whose queues may still deliver what was given to them."""
        return [self.dispatcher.id, *(d.id for d in self._retiring)]

    def _busy(self) -> bool:
        return any(d.busy() for d in (self.dispatcher, *self._retiring))

    def _stale_before(self, now_s: int) -> int:
        """What another collector was given before this and has not said it still holds is
        owed again: it stopped (or it lost the lease and has said so since)."""
        return now_s - int(lease_ttl(self.config))

    def _room_freed(self, notifier: str) -> None:
        """A worker's call (its thread): its queue has room; wake whoever waits if more is
        owed."""
        wake = self.wake
        if wake is not None and notifier in self._owed:
            with contextlib.suppress(RuntimeError):  # the waiter's loop closed meanwhile
                wake()
