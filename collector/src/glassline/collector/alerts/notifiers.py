"""Delivery: one worker thread and one bounded queue per notifier.

Evaluation only enqueues (never blocks): when a queue is full the message is dropped and
counted. A webhook that fails is retried with exponential backoff; one that hangs is cut
by its timeout; either way only its own worker waits, never evaluation, other notifiers
or ingest.

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
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from glassline.collector.alerts import config as cfg
from glassline.collector.alerts.payloads import alert_text, slack_message
from glassline.collector.threads import NamedThread

__all__ = ["Dispatcher", "NotifierStats"]

_log = logging.getLogger(__name__)
_STOP = object()


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


async def _post(notifier: cfg.WebhookNotifier | cfg.SlackNotifier, body: Mapping[str, Any]) -> None:
    data: Mapping[str, Any]
    if isinstance(notifier, cfg.SlackNotifier):
        data = slack_message(body)
    else:
        data = _at_most(body, notifier.max_alerts)
    timeout = notifier.timeout.total_seconds()
    delay = notifier.backoff.total_seconds()
    headers = {"content-type": "application/json", **notifier.headers}
    content = json.dumps(data).encode()
    async with httpx.AsyncClient(timeout=timeout) as client:
        for attempt in range(notifier.max_retries + 1):
            try:
                async with asyncio.timeout(timeout):
                    status = await _status(client, notifier.url, content, headers)
                if 200 <= status < 300:
                    return
                error: Exception = WebhookStatusError(status)
                if status < 500 and status != 429:
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


def _deliver(notifier: Any, body: Mapping[str, Any]) -> None:
    if isinstance(notifier, cfg.LogNotifier):
        level = logging.INFO if notifier.level == "info" else logging.WARNING
        _log.log(level, "alert notification %s", _log_text(body))
        return
    asyncio.run(_post(notifier, body))


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


class _Worker:
    def __init__(self, notifier: Any, size: int, stats: NotifierStats) -> None:
        self.notifier = notifier
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stats = stats
        self.thread = NamedThread(target=self._loop, name=f"notify-{notifier.name}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            body = self.queue.get()
            try:
                if body is _STOP:
                    return
                _deliver(self.notifier, body)
                self._stats.incr(self.notifier.name, "sent")
            except Exception as exc:  # a notifier must never take the worker down
                self._stats.incr(self.notifier.name, "failed")
                # Only the error class and the notifier: the message may hold tenant data.
                _log.warning("notifier %s failed: %s", self.notifier.name, type(exc).__name__)
            finally:
                self.queue.task_done()


class Dispatcher:
    """Owns the notifier workers; ``submit`` never blocks."""

    def __init__(self, config: cfg.AlertsConfig) -> None:
        self.stats = NotifierStats()
        self._workers = {
            n.name: _Worker(n, config.queue_size, self.stats) for n in config.notifiers
        }

    def submit(self, notifier: str, body: Mapping[str, Any]) -> bool:
        """Queue ``body`` for ``notifier``; False (and counted) if its queue is full."""
        worker = self._workers.get(notifier)
        if worker is None:
            return False
        try:
            worker.queue.put_nowait(body)
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
