"""The alert engine: evaluates every rule on the rollups, advances states, hands off notices.

``evaluate_once(now)`` is one pass (tests drive time through ``now``); ``run(stop)`` repeats
it at every ``evaluation_interval`` boundary while this process holds the ``alerts`` lease, so
one replica evaluates at a time. Each scheduled pass also claims its interval (a row in
``alert_evaluations``, in the transaction that advances the states): a lease that changes
hands mid-interval, or a holder whose lease ran out while it was still evaluating, can never
evaluate one interval twice. Notifications go through the :class:`Dispatcher` queues after
the states are committed: evaluation never waits for a notifier; :mod:`delivery` gives each
notifier what it is owed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import ColumnElement, Engine, Table, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from glassline.collector.alerts import outbox, slo
from glassline.collector.alerts.config import (
    AlertConfigError,
    AlertsConfig,
    Rule,
    SloRule,
    load_config,
)
from glassline.collector.alerts.delivery import Delivery, lease_ttl
from glassline.collector.alerts.models import (
    INACTIVE,
    RESOLVED,
    AlertDigest,
    AlertEvaluation,
    AlertEvent,
    AlertState,
    SloCount,
)
from glassline.collector.alerts.notifiers import Dispatcher
from glassline.collector.alerts.report import EvaluationReport
from glassline.collector.alerts.rules import Observation, evaluate_rule
from glassline.collector.alerts.state import apply_observations
from glassline.collector.storage import expiry
from glassline.collector.storage.engine import WRITE

__all__ = ["LEASE_NAME", "AlertEngine", "AlertStore", "EvaluationReport"]

_log = logging.getLogger(__name__)
LEASE_NAME = "alerts"


def _slo_days_cutoff(config: AlertsConfig, now_s: int) -> int:
    """The SLO day counts older than this are in no rule's period (:mod:`kept_days`)."""
    periods = [r.period.total_seconds() for r in config.rules if isinstance(r, SloRule)]
    return now_s - int(max(periods, default=0)) - 86_400


class AlertStore(Protocol):
    """What the engine needs of ``glassline.collector.storage.Store``."""

    engine: Engine

    def try_acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool: ...

    def delete_expired(self, table: Table, where: ColumnElement[bool]) -> int: ...


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
        self._holding = False  # run()'s last pass held the lease (a refill may offer)
        self._write_engine = store.engine.execution_options(**WRITE)
        self.delivery = Delivery(store.engine, self._write_engine, config, self.holder)
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
        self.delivery.offer(report, now)
        self.delivery.send_digests(report, now)
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
        outcomes = self.delivery.outcomes()
        with Session(self._write_engine) as session:
            if claim and not self._claim(session, config, now, len(observed)):
                report.claimed_by_other = True
                return
            outbox.settle(session, outcomes)
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
        self.delivery.settled()

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the SLO day and hour counts no rule's period holds any longer, and the hours
        no pass reads again (:mod:`kept_days`, :func:`slo.unread_hours`), as the retention
        job does every expired table: :data:`expiry.PURGE_ROWS` a transaction
        (``Store.delete_expired``). Returns how many went."""
        now_s = int((now or datetime.now(UTC)).timestamp())
        expired = or_(
            SloCount.day < _slo_days_cutoff(self.config, now_s),
            slo.unread_hours(self.config, now_s),
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

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate at every ``evaluation_interval`` boundary while holding the lease.

        Passes start on the boundaries of Unix time (every replica agrees on them), so each
        interval has one pass by the lease holder, claimed in the database. In between, the
        holder refills the queues that ran half empty while their notifiers are owed more.
        Runs until ``stop``.
        """
        loop, room = asyncio.get_running_loop(), asyncio.Event()
        self.delivery.wake = lambda: loop.call_soon_threadsafe(room.set)
        try:
            while not stop.is_set():
                self._holding = await self._pass()
                await self._between_passes(stop, room)
        finally:
            self.delivery.wake = None

    async def _pass(self) -> bool:
        """One scheduled pass, if this process holds the lease; whether it evaluated."""
        try:
            held = await asyncio.to_thread(
                self.store.try_acquire_lease, LEASE_NAME, self.holder, lease_ttl(self.config)
            )
            if not held:
                self.passes["skipped_no_lease"] += 1
                self._report(EvaluationReport(evaluated_at=datetime.now(UTC)))  # owes nothing
                await asyncio.to_thread(self.delivery.keep_given, datetime.now(UTC))
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
                        refill = self.delivery.refill
                        self._report(await asyncio.to_thread(refill, datetime.now(UTC)))
                    except Exception:
                        _log.exception("alert notification refill failed")

    def _report(self, report: EvaluationReport) -> None:
        if self._on_pass is not None:
            self._on_pass(report)

    def reload(self, path: str | Path) -> bool:
        """Load a new rule file (SIGHUP); on any error keep the current rules and log them."""
        try:
            new = load_config(path)
        except AlertConfigError as exc:
            for line in exc.errors:
                _log.error("alert config reload rejected: %s", line)
            return False
        self.delivery.reload(new)
        self.config = new
        _log.info("alert config reloaded: %d rules", len(new.rules))
        return True

    @property
    def dispatcher(self) -> Dispatcher:
        """This collector's notifier queues (a reload may replace them)."""
        return self.delivery.dispatcher

    def refill(self, now: datetime) -> EvaluationReport:
        """Between passes: give each notifier more of what it is owed (:meth:`Delivery.refill`)."""
        return self.delivery.refill(now)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the notifier workers and record what they delivered (:meth:`Delivery.close`)."""
        self.delivery.close(timeout)
