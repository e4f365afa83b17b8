"""The one event loop of this process that every grpc.aio server runs on.

grpc.aio binds its completion-queue poller to the first event loop that uses it: servers
started on a second loop in the same process hang. One daemon thread runs one loop for the
life of the process, and every gRPC receiver (a worker has one, a test may start many)
starts, serves and stops on it. The front's channels to its runners live on it too
(handoff.py), so a gRPC export is handed over and answered without leaving its thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from glassline.collector.threads import NamedThread

__all__ = ["run_on_loop", "the_loop"]

_T = TypeVar("_T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def the_loop() -> asyncio.AbstractEventLoop:
    """The loop (started on first use)."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            NamedThread(target=_loop.run_forever, name="grpc-aio", daemon=True).start()
        return _loop


def run_on_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on the gRPC loop and wait for its result (call from any other thread)."""
    return asyncio.run_coroutine_threadsafe(coro, the_loop()).result()
