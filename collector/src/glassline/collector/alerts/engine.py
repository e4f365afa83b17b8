"""The alert engine: evaluates every rule on the rollups, advances states, hands off notices.

``evaluate_once(now)`` is one pass (tests drive time through ``now``); ``run(stop)`` repeats
it at every ``evaluation_interval`` boundary while this process holds the ``alerts`` lease, so
one replica evaluates at a time. Each scheduled pass also claims its interval (a row in
``alert_evaluations``, in the transaction that advances the states): a lease that changes
hands mid-interval, or a holder whose lease ran out while it was still evaluating, can never
evaluate one interval twice. Notifications go through the :class:`Dispatcher` queues after
the states are committed: evaluation never waits for a notifier. What each notifier is owed
is written with the states (:mod:`outbox`) and offered as its queue has room, oldest first, so
a full queue delays a notification but never loses it. Between passes, a notifier whose queue
is half empty again while it is owed more is given more at once (:meth:`AlertEngine.refill`):
before, a notifier got at most ``queue_size`` messages a pass, so a storm of 20,000 took 20
passes (5 minutes at 15 s) to go out to a webhook that takes 500 a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, Table, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glassline.collector.alerts import digest as digests
from glassline.collector.alerts import outbox, quality
from glassline.collector.alerts.config import (
    AlertConfigError,
    AlertsConfig,
    Rule,
    SloRule,
    load_config,
)
from glassline.collector.alerts.models import (
    INACTIVE,
    RESOLVED,
    AlertDigest,
    AlertEvaluation,
    AlertEvent,
    AlertState,
    SloCount,
)
from glassline.collector.alerts.notifiers import Dispatcher, Outcome
from glassline.collector.alerts.rules import Observation, evaluate_rule
from glassline.collector.alerts.state import Notice, Transition, apply_observations
from glassline.collector.storage import expiry
from glassline.collector.storage.engine import WRITE

__all__ = ["LEASE_NAME", "AlertEngine", "AlertStore", "EvaluationReport"]

_log = logging.getLogger(__name__)
LEASE_NAME = "alerts"
# Digests a pass builds at most. Every tenant's digest was built in the pass that found it due
# and queued at once: with 5,000 tenants the pass took minutes (no rule evaluated meanwhile),
# and the queue of 1,000 dropped 4,000 digests that were claimed, so never sent.
DIGESTS_PER_PASS = 100


def _lease_ttl(config: AlertsConfig) -> float:
    """The lease outlives one interval so a live holder keeps it between passes."""
    return config.evaluation_interval.total_seconds() * 2 + 5


def _slo_days_cutoff(config: AlertsConfig, now_s: int) -> int:
    """The SLO day counts older than this are in no rule's period (:mod:`kept_days`)."""
    periods = [r.period.total_seconds() for r in config.rules if isinstance(r, SloRule)]
    return now_s - int(max(periods, default=0)) - 86_400


class AlertStore(Protocol):
    """What the engine needs of ``glassline.collector.storage.Store``."""

    engine: Engine

    def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool: ...

    def delete_expired(self, table: Table, where: ColumnElement[bool]) -> int: ...


@dataclass(slots=True)
class EvaluationReport:
    """What one evaluation pass did."""

    evaluated_at: datetime
    rules: int = 0
    observations: int = 0
    transitions: list[Transition] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    enqueued: int = 0  # messages queued (alerts decided now or owed from earlier passes)
    dropped: int = 0  # digests a full queue refused (a pass claims only what fits)
    # Per notifier, alerts owed that no queue holds yet, and the oldest one's due time.
    waiting: dict[str, tuple[int, int]] = field(default_factory=dict)
    digests: list[str] = field(default_factory=list)  # tenants whose digest was sent
    errors: list[str] = field(default_factory=list)  # "rule: ErrorClass: message"
    claimed_by_other: bool = False  # the interval was already evaluated by another replica


class AlertEngine:
    """Evaluates ``config`` against ``store`` (a ``glassline.collector.storage.Store``)."""

    def __init__(
        self,
        store: AlertStore,
        config: AlertsConfig,
        *,
        holder: str | None = None,
        on_pass: Callable[[EvaluationReport], None] | None = None,
    ) -> None:
        """``on_pass`` gets the report of every pass ``run`` evaluates and of every refill
        between passes (the server's metrics), and an empty one for a pass skipped because
        another process holds the lease: the gauges of a process that lost it must not keep
        the figures it last had (a multi-process gauge shows the largest of the processes')."""
        self.store = store
        self._on_pass = on_pass
        self.config = config
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.dispatcher = Dispatcher(config, on_room=self._room_freed)
        self._owed: frozenset[str] = frozenset()  # notifiers the last offer left alerts owed
        self._wake: Callable[[], object] | None = None  # run()'s: a queue has room for them
        self._holding = False  # run()'s last pass held the lease (a refill may offer)
        # Dispatchers a reload replaced, while their workers still deliver their queues.
        self._retiring: list[Dispatcher] = []
        self._outcomes: list[Outcome] = []  # taken from the dispatchers, not yet settled
        self._write_engine = store.engine.execution_options(**WRITE)
        # Passes of run(): evaluated, skipped (another replica holds the lease or already
        # evaluated this interval), or failed.
        self.passes = {"evaluated": 0, "skipped_no_lease": 0, "skipped_claimed": 0, "failed": 0}

    def evaluate_once(self, now: datetime, *, claim: bool = False) -> EvaluationReport:
        """Evaluate every rule at ``now`` (timezone-aware), persist, enqueue notifications.

        With ``claim``, the pass first claims the evaluation interval that holds ``now``; if
        another replica already did, nothing changes and ``report.claimed_by_other`` is set.
        """
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        report = EvaluationReport(evaluated_at=now)
        config = self.config  # a reload mid-pass takes effect at the next pass
        observed = self._observe(config, now, report)
        self._advance(config, observed, now, report, claim=claim)
        if report.claimed_by_other:
            return report
        self._offer(report, now)
        self._send_digests(report, now)
        if report.waiting:
            # Once a pass, not once a message: 5,000 tenants firing at once logged 18,000 lines.
            _log.warning(
                "alert notifications waiting for a notifier queue (alerts.queue_size %d), sent "
                "oldest first at the next passes: %s; a group_by of fewer labels sends fewer "
                "messages",
                config.queue_size,
                ", ".join(
                    f"{name} {count} (oldest {int(now.timestamp()) - oldest} s)"
                    for name, (count, oldest) in sorted(report.waiting.items())
                ),
            )
        return report

    def _observe(
        self, config: AlertsConfig, now: datetime, report: EvaluationReport
    ) -> list[tuple[Rule, list[Observation]]]:
        """Read the rollups for every rule, outside any write transaction.

        On SQLite a write transaction holds the database's one write lock: reading first keeps
        the lock (which ingest needs too) to the short state update that follows.
        """
        observed = []
        with self.store.engine.connect() as conn:
            for rule in config.rules:
                try:
                    observed.append((rule, evaluate_rule(rule, conn, now)))
                except Exception as exc:  # one broken rule must not stop the others
                    _log.exception("alert rule %s failed to evaluate", rule.name)
                    report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
        return observed

    def _advance(
        self,
        config: AlertsConfig,
        observed: list[tuple[Rule, list[Observation]]],
        now: datetime,
        report: EvaluationReport,
        *,
        claim: bool,
    ) -> None:
        """Move every rule's states in one transaction (a savepoint per rule)."""
        now_s = int(now.timestamp())
        self._outcomes += self._take_outcomes()
        with Session(self._write_engine) as session:
            if claim and not self._claim(session, config, now, len(observed)):
                report.claimed_by_other = True
                return
            outbox.settle(session, self._outcomes)
            for rule, observations in observed:
                repeat = int((rule.repeat_interval or config.repeat_interval).total_seconds())
                try:
                    with session.begin_nested():
                        transitions, notices = apply_observations(
                            session, rule, observations, now_s,
                            repeat_interval=repeat, send_resolved=config.send_resolved,
                        )  # fmt: skip
                except Exception as exc:
                    _log.exception("alert rule %s failed to update its states", rule.name)
                    report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
                    continue
                report.rules += 1
                report.observations += len(observations)
                report.transitions += transitions
                report.notices += notices
            # With the states that decided them: what is owed survives a restart.
            outbox.record(session, config, report.notices, report.transitions, now_s)
            self._prune_history(session, config, now_s)
            session.commit()
        self._outcomes.clear()

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the SLO day and hour counts no rule's period holds any longer, and the hours
        no pass reads again (:mod:`kept_days`, :func:`quality.unread_hours`), as the retention
        job does every expired table: :data:`expiry.PURGE_ROWS` a transaction
        (``Store.delete_expired``). Returns how many went."""
        now_s = int((now or datetime.now(UTC)).timestamp())
        expired = or_(
            SloCount.day < _slo_days_cutoff(self.config, now_s),
            quality.unread_hours(self.config, now_s),
        )
        return self.store.delete_expired(SloCount.__table__, expired)

    def _claim(self, session: Session, config: AlertsConfig, now: datetime, rules: int) -> bool:
        """Insert this interval's ``alert_evaluations`` row; False if it is already there."""
        interval_ms = max(1, int(config.evaluation_interval.total_seconds() * 1000))
        row = AlertEvaluation(
            slot=int(now.timestamp() * 1000) // interval_ms,
            interval_ms=interval_ms,
            evaluated_at=int(now.timestamp()),
            holder=self.holder[:256],
            rules=rules,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _prune_history(session: Session, config: AlertsConfig, now_s: int) -> None:
        cutoff = now_s - int(config.history_retention.total_seconds())
        # An alert over and unchanged for as long as its history is kept: a per-user budget
        # leaves one row for every user that ever went over it.
        settled = AlertState.state.in_((INACTIVE, RESOLVED))
        expired = (
            # States of rules a reload removed would otherwise show as firing forever.
            (AlertState, AlertState.rule.not_in([r.name for r in config.rules])),
            (AlertState, settled & (AlertState.updated_at < cutoff)),
            (AlertEvent, AlertEvent.at < cutoff),
            (AlertDigest, AlertDigest.sent_at < cutoff),
            (AlertEvaluation, AlertEvaluation.evaluated_at < cutoff),
        )
        # At most PURGE_ROWS of each a pass (one every evaluation interval): a history kept
        # shorter in the config (90 days of a 15 s interval: 518,400 evaluation rows) drains
        # over a few passes instead of holding the store's write lock in one.
        conn = session.connection()
        for model, where in expired:
            expiry.delete_some(conn, model.__table__, where, expiry.PURGE_ROWS)
        outbox.prune(session, config, cutoff)

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
        return now_s - int(_lease_ttl(self.config))

    def _offer(self, report: EvaluationReport, now: datetime) -> None:
        """Give each notifier the oldest groups it is owed, as many as its queue takes."""
        now_s, givers = int(now.timestamp()), self._givers()
        stale_before = self._stale_before(now_s)
        if self._busy():  # else nothing of ours is in a queue: spare SQLite's write lock
            with self._write_engine.begin() as conn:
                outbox.refresh(conn, givers, now_s)
        for notifier in self.config.notifiers:
            name = notifier.name
            room = self.dispatcher.room(name)
            with self.store.engine.connect() as conn:
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
        with self.store.engine.connect() as conn:
            report.waiting = outbox.waiting(conn, givers, stale_before)
        self._owed = frozenset(report.waiting)

    def _submit(
        self, report: EvaluationReport, notifier: str, body: dict[str, Any], ticket: Any = None
    ) -> bool:
        if self.dispatcher.submit(notifier, body, ticket):
            report.enqueued += 1
            return True
        report.dropped += 1
        return False

    def _send_digests(self, report: EvaluationReport, now: datetime) -> None:
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

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate at every ``evaluation_interval`` boundary while holding the lease.

        Passes start on the boundaries of Unix time (every replica agrees on them), so each
        interval has one pass by the lease holder, claimed in the database. In between, the
        holder refills the queues that ran half empty while their notifiers are owed more.
        Runs until ``stop``.
        """
        loop, room = asyncio.get_running_loop(), asyncio.Event()
        self._wake = lambda: loop.call_soon_threadsafe(room.set)
        try:
            while not stop.is_set():
                self._holding = await self._pass()
                await self._between_passes(stop, room)
        finally:
            self._wake = None

    async def _pass(self) -> bool:
        """One scheduled pass, if this process holds the lease; whether it evaluated."""
        try:
            held = await asyncio.to_thread(
                self.store.try_acquire_lease, LEASE_NAME, self.holder, _lease_ttl(self.config)
            )
            if not held:
                self.passes["skipped_no_lease"] += 1
                self._report(EvaluationReport(evaluated_at=datetime.now(UTC)))  # owes nothing
                await asyncio.to_thread(self._keep_given, datetime.now(UTC))
                return False
            report = await asyncio.to_thread(self.evaluate_once, datetime.now(UTC), claim=True)
            if report.errors:
                _log.warning("alert evaluation had %d errors", len(report.errors))
            if report.claimed_by_other:
                self.passes["skipped_claimed"] += 1
                return False
            self.passes["evaluated"] += 1
            self._report(report)
            return True
        except Exception:
            self.passes["failed"] += 1
            _log.exception("alert evaluation pass failed")
            return False

    async def _between_passes(self, stop: asyncio.Event, room: asyncio.Event) -> None:
        """Until just past the next boundary (a timer that fires early would land the pass in
        the interval it just evaluated), refill the queues each time one has ``room``."""
        interval = self.config.evaluation_interval.total_seconds()
        deadline = time.time() + interval - time.time() % interval + 0.002
        while not stop.is_set() and (left := deadline - time.time()) > 0:
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(room.wait())]
            try:
                await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            if room.is_set() and not stop.is_set():
                room.clear()  # before the refill: a queue that empties during it says so again
                if self._holding:
                    try:
                        self._report(await asyncio.to_thread(self.refill, datetime.now(UTC)))
                    except Exception:
                        _log.exception("alert notification refill failed")

    def _report(self, report: EvaluationReport) -> None:
        if self._on_pass is not None:
            self._on_pass(report)

    def _room_freed(self, notifier: str) -> None:
        """A worker's call (its thread): its queue has room; wake run() if more is owed."""
        wake = self._wake
        if wake is not None and notifier in self._owed:
            with contextlib.suppress(RuntimeError):  # run()'s loop closed meanwhile
                wake()

    def refill(self, now: datetime) -> EvaluationReport:
        """Between passes: record what the queues delivered, then give each notifier the
        oldest groups it is owed, as many as its queue takes (no rule is evaluated)."""
        report = EvaluationReport(evaluated_at=now)
        self._settle()
        self._offer(report, now)
        return report

    def _settle(self) -> None:
        """Record what the queues delivered (or failed to) since the last call."""
        self._outcomes += self._take_outcomes()
        if not self._outcomes:
            return
        with Session(self._write_engine) as session:
            outbox.settle(session, self._outcomes)
            session.commit()
        self._outcomes.clear()

    def reload(self, path: str | Path) -> bool:
        """Load a new rule file (SIGHUP); on any error keep the current rules and log them."""
        try:
            new = load_config(path)
        except AlertConfigError as exc:
            for line in exc.errors:
                _log.error("alert config reload rejected: %s", line)
            return False
        old_dispatcher = self.dispatcher
        if new.notifiers != self.config.notifiers or new.queue_size != self.config.queue_size:
            self.dispatcher = Dispatcher(new, on_room=self._room_freed)
            # reload runs in the server's event loop: let the old queues drain off it; what
            # they deliver is settled by the next passes.
            self._retiring.append(old_dispatcher)
            threading.Thread(target=old_dispatcher.close, daemon=True).start()
        self.config = new
        _log.info("alert config reloaded: %d rules", len(new.rules))
        return True

    def _keep_given(self, now: datetime) -> None:
        """Off the lease: record what this collector's queues delivered, and say they still
        hold the rest, so the lease holder does not send it again."""
        self._outcomes += self._take_outcomes()
        if not self._outcomes and not self._busy():
            return
        with Session(self._write_engine) as session:
            outbox.settle(session, self._outcomes)
            outbox.refresh(session, self._givers(), int(now.timestamp()))
            session.commit()
        self._outcomes.clear()

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
