"""Delivery: one worker thread and one bounded queue per notifier.

Evaluation only enqueues (never blocks): the engine offers a queue only what it has room for
(``room``), and a message submitted to a full queue is refused and counted. A worker that
has sent a message with its queue half empty says so (``on_room``): the engine gives it more
of what it is owed at once, not at the next pass. A webhook that
fails is retried with exponential backoff; one that hangs is cut by its timeout; either way
only its own worker waits, never evaluation, other notifiers or ingest. A message submitted
with a ticket has its outcome reported back (``take_outcomes``): ``sent``, ``failed`` (worth
trying again later: a 5xx, 429, network error or timeout after the retries) or ``rejected``
(a redirect or another 4xx, which will not improve).

The timeout bounds a whole attempt, not each read: httpx's timeouts are per operation, so an
endpoint that drips its answer a byte at a time (a streaming URL sending keep-alives) would
hold the worker forever. An answer is judged by its status line and its body is never read:
a webhook URL that serves a file or an endless stream would otherwise be read into memory
(2 GB took the collector to 4.2 GB).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.payloads import alert_text, slack_message
from glassline.collector.threads import NamedThread

__all__ = ["FAILED", "REJECTED", "SENT", "Dispatcher", "NotifierStats", "Outcome"]

_log = logging.getLogger(__name__)
_STOP = object()
SENT, FAILED, REJECTED = "sent", "failed", "rejected"
Outcome = tuple[Any, str]  # (the ticket a message was submitted with, SENT/FAILED/REJECTED)


class NotifierStats:
    """Counters per notifier (read by tests, the API and metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}

    def incr(self, notifier: str, what: str) -> None:
        with self._lock:
            entry = self.counts.setdefault(notifier, {"sent": 0, "failed": 0, "dropped": 0})
            entry[what] += 1

    def get(self, notifier: str, what: str) -> int:
        with self._lock:
            return self.counts.get(notifier, {}).get(what, 0)


async def _post(
    client: httpx.AsyncClient,
    notifier: cfg.WebhookNotifier | cfg.SlackNotifier,
    body: Mapping[str, Any],
) -> None:
    data: Mapping[str, Any]
    if isinstance(notifier, cfg.SlackNotifier):
        data = slack_message(body)
    else:
        data = _at_most(body, notifier.max_alerts)
    timeout = notifier.timeout.total_seconds()
    delay = notifier.backoff.total_seconds()
    headers = {"content-type": "application/json", **notifier.headers}
    content = json.dumps(data).encode()
    for attempt in range(notifier.max_retries + 1):
        try:
            async with asyncio.timeout(timeout):
                status = await _status(client, notifier.url, content, headers)
            if 200 <= status < 300:
                return
            error: Exception = WebhookStatusError(status)
            if _permanent(error):
                raise error  # a redirect, or a 4xx other than 429, will not improve
        except (httpx.HTTPError, TimeoutError) as exc:
            error = exc
        if attempt == notifier.max_retries:
            raise error
        await asyncio.sleep(delay)
        delay *= 2


def _at_most(body: Mapping[str, Any], max_alerts: int) -> Mapping[str, Any]:
    """``body`` with its first ``max_alerts`` alerts and ``truncated_alerts``, how many it left
    out (as Alertmanager's webhook does); whole when it has no more (or max_alerts is 0)."""
    alerts = body.get("alerts", [])
    if not max_alerts or len(alerts) <= max_alerts:
        return body
    return {**body, "alerts": alerts[:max_alerts], "truncated_alerts": len(alerts) - max_alerts}


async def _status(
    client: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str]
) -> int:
    """The answer's status; leaving the stream unread closes the connection."""
    async with client.stream("POST", url, content=content, headers=headers) as response:
        return response.status_code


class WebhookStatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Sender:
    """Sends one notifier's messages, in its worker's thread: one event loop and one HTTP client
    for all of them. A client built for each message cost 35 ms of CPU (its TLS context), most
    of a message's 41 ms: a worker sent 23 messages a second to a webhook on loopback."""

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier
        self._runner = asyncio.Runner()
        self._client: httpx.AsyncClient | None = None

    def send(self, body: Mapping[str, Any]) -> None:
        if isinstance(self.notifier, cfg.LogNotifier):
            level = logging.INFO if self.notifier.level == "info" else logging.WARNING
            _log.log(level, "alert notification %s", _log_text(body))
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.notifier.timeout.total_seconds())
        self._client.cookies.clear()  # each message on its own, as with a client of its own
        self._runner.run(_post(self._client, self.notifier, body))

    def close(self) -> None:
        if self._client is not None:
            self._runner.run(self._client.aclose())
        self._runner.close()


def _log_text(body: Mapping[str, Any]) -> str:
    """Each alert in words, its value in its unit ($0.539, not 0.5386), then the JSON payload
    with the raw numbers as a webhook gets it."""
    payload = json.dumps(body, sort_keys=True)
    if body.get("type") != "alert":
        return payload
    said = "; ".join(
        f"{a['rule']} {a['state']} ({a['severity']}): {alert_text(a)}" for a in body["alerts"]
    )
    return f"{said} {payload}"


def _permanent(exc: Exception) -> bool:
    """A failure that sending the same message again will not cure."""
    return isinstance(exc, WebhookStatusError) and exc.status < 500 and exc.status != 429


class _Worker:
    def __init__(
        self,
        notifier: Any,
        size: int,
        stats: NotifierStats,
        outcomes: list[Outcome],
        on_room: Callable[[str], None] | None,
    ) -> None:
        self.notifier = notifier
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stats = stats
        self._outcomes = outcomes
        self._on_room = on_room
        self.thread = NamedThread(target=self._loop, name=f"notify-{notifier.name}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        sender = _Sender(self.notifier)
        try:
            while True:
                item = self.queue.get()
                try:
                    if item is _STOP:
                        return
                    body, ticket = item
                    outcome = self._send(sender, body)
                    if ticket is not None:
                        self._outcomes.append((ticket, outcome))  # list.append is atomic
                finally:
                    self.queue.task_done()
                if self._on_room is not None and self.queue.qsize() <= self.queue.maxsize // 2:
                    self._on_room(self.notifier.name)
        finally:
            with contextlib.suppress(Exception):  # the worker is ending: nothing left to send
                sender.close()

    def _send(self, sender: _Sender, body: Mapping[str, Any]) -> str:
        try:
            sender.send(body)
        except Exception as exc:  # a notifier must never take the worker down
            self._stats.incr(self.notifier.name, "failed")
            # Only the error class and the notifier: the message may hold tenant data.
            _log.warning("notifier %s failed: %s", self.notifier.name, type(exc).__name__)
            return REJECTED if _permanent(exc) else FAILED
        self._stats.incr(self.notifier.name, "sent")
        return SENT


class Dispatcher:
    """Owns the notifier workers; ``submit`` never blocks.

    ``id`` names this dispatcher in the store's delivery rows: a message given to a dispatcher
    that is gone (a restart, a reload that replaced it) is owed again.
    """

    def __init__(
        self, config: cfg.AlertsConfig, *, on_room: Callable[[str], None] | None = None
    ) -> None:
        """``on_room(notifier)`` is called from a worker's thread after each message it sent
        while its queue is at most half full (it must not block nor raise)."""
        self.id = uuid.uuid4().hex
        self.stats = NotifierStats()
        self._outcomes: list[Outcome] = []
        self._workers = {
            n.name: _Worker(n, config.queue_size, self.stats, self._outcomes, on_room)
            for n in config.notifiers
        }

    def submit(self, notifier: str, body: Mapping[str, Any], ticket: Any = None) -> bool:
        """Queue ``body`` for ``notifier``; False (and counted) if its queue is full. With a
        ``ticket``, the message's outcome is reported by :meth:`take_outcomes`."""
        worker = self._workers.get(notifier)
        if worker is None:
            return False
        try:
            worker.queue.put_nowait((body, ticket))
            return True
        except queue.Full:  # the engine logs a pass's drops once
            self.stats.incr(notifier, "dropped")
            return False

    def room(self, notifier: str) -> int:
        """How many more messages ``notifier``'s queue takes now (0 for an unknown name)."""
        worker = self._workers.get(notifier)
        if worker is None:
            return 0
        return max(0, worker.queue.maxsize - worker.queue.qsize())

    def take_outcomes(self) -> list[Outcome]:
        """The outcomes reported since the last call, oldest first."""
        taken = len(self._outcomes)  # the workers only append: the first ``taken`` are ours
        out = self._outcomes[:taken]
        del self._outcomes[:taken]
        return out

    def busy(self) -> bool:
        """Whether a queue still holds, or a worker still sends, a message."""
        return any(w.queue.unfinished_tasks for w in self._workers.values())

    def alive(self) -> bool:
        """Whether a worker still runs (a closed dispatcher may still deliver its queue)."""
        return any(w.thread.is_alive() for w in self._workers.values())

    def drain(self, timeout: float, notifiers: Iterable[str] | None = None) -> bool:
        """Wait until the queues (all, or ``notifiers``') are done (True) or ``timeout`` passes."""
        names = list(self._workers) if notifiers is None else list(notifiers)
        workers = [self._workers[n] for n in names if n in self._workers]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(w.queue.unfinished_tasks == 0 for w in workers):
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers after what is queued; a hung worker is abandoned (daemon)."""
        for worker in self._workers.values():
            with contextlib.suppress(queue.Full):
                worker.queue.put(_STOP, timeout=0.1)
        deadline = time.monotonic() + timeout
        for worker in self._workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
