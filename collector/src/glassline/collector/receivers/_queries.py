"""The query API's front: query text as the stores keep it, and a bound on reads at once."""

from __future__ import annotations

import asyncio
import json
import math
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from glassline.collector.config import ServerConfig
from glassline.collector.jsonsafe import REPLACEMENT
from glassline.collector.metrics import Metrics
from glassline.collector.receivers._answers import send_answer

__all__ = ["QueryAsStored", "QuerySlots"]


class QueryAsStored:
    """Query parameters as the stores keep text: a NUL (``%00``) becomes U+FFFD.

    Ingest makes every string safe for both stores (:mod:`glassline.collector.jsonsafe`), since
    PostgreSQL refuses a NUL in any text: a filter holding one failed its query there, a 500.
    Replaced the same way, ``?user=a%00b`` finds the spans whose user was sent as ``a\\0b``.
    Every NUL in a query string is a ``%00`` (no escape can take its ``%`` as a hex digit);
    the other text the stores refuse, a lone surrogate, never comes out of its decoding.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if b"%00" in query:
            scope = {**scope, "query_string": query.replace(b"%00", _STORED_NUL)}
        await self._app(scope, receive, send)


_STORED_NUL = quote(REPLACEMENT).encode("ascii")


class QuerySlots:
    """At most ``slots`` query API reads (``GET /api/...``) at once; another waits for a slot
    up to ``wait_s``, then gets 429 + Retry-After.

    A read holds one of the store's pooled connections (15 by default) for as long as it runs,
    and the exports' writes, the readiness check, the WAL checkpoints and the alert evaluation
    draw from the same pool. 48 slow reads at once on a 2.4M-span SQLite store took them all: an
    accepted export waited 22 s for a connection, /readyz 23 s, and reads, alert passes and
    checkpoints that waited 30 s failed. A read waiting here holds neither a thread nor a
    connection; past ``max_waiting`` waiting reads, one is refused at once.
    """

    def __init__(self, app: ASGIApp, config: ServerConfig, metrics: Metrics) -> None:
        self._app = app
        self._slots = config.max_inflight_queries
        self._free = asyncio.Semaphore(self._slots)
        self._wait_s = config.max_queue_wait_s or 0.0
        self._max_waiting = config.max_inflight_requests
        self._waiting = 0
        self._reads = metrics.query_reads
        self._retry_after = str(max(1, math.ceil(config.retry_after_s))).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope.get("path", "").startswith("/api/")
        ):
            await self._app(scope, receive, send)
            return
        if not await self._slot():
            self._reads.labels("refused").inc()
            message = f"{self._slots} queries are running (server.max_inflight_queries): retry"
            body = json.dumps({"error": message}).encode()
            await send_answer(send, 429, body, b"application/json", self._retry_after)
            return
        try:
            await self._app(scope, receive, send)
        finally:
            self._free.release()

    async def _slot(self) -> bool:
        """Take a slot, waiting for one up to ``wait_s``; False if none came."""
        if not self._free.locked():
            await self._free.acquire()  # free: returns without suspending
            self._reads.labels("served").inc()
            return True
        if self._waiting >= self._max_waiting:
            return False
        self._waiting += 1
        self._reads.labels("waited").inc()
        try:
            async with asyncio.timeout(self._wait_s):
                await self._free.acquire()
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1
        return True
