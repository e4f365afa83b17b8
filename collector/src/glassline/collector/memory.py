"""Give memory back to the system after a burst (glibc's malloc; a no-op elsewhere).

Export bodies are large (a 512-span request is ~600 KB) and short-lived. glibc serves such
blocks with ``mmap`` at first, but raises its mmap threshold to the size of every such block
freed, so after the first burst they come from the heap arenas instead, one per thread, where
freed memory stays mapped: measured after overload runs, RSS stayed 15-22% above idle.
Fixing the threshold keeps large blocks on ``mmap`` (unmapped on free), and ``malloc_trim``
returns the free tops and pages of the arenas. glibc also gives each thread that meets a
locked arena a new one (up to 8 per core); freed memory scattered over many arenas is what
trimming cannot return, and the export threads run under the GIL anyway, so two arenas per
process are enough.

A timer alone returned too little once a burst ended (measured a minute after overload: each
runner +3-4 MB in SQLite's page caches of its idle pooled connections, the front a few MB of
garbage cycles that no collection would reach while the process idles, since collections are
triggered by allocations). So :class:`BurstRelease` watches the process's own CPU time and,
when a busy process goes quiet, collects garbage, runs the release hooks (the store closes its
idle connections) and trims; in between it trims every ``trim_every_s``, as the timer did.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from glassline.collector.threads import NamedThread

__all__ = ["BurstRelease", "Bursts", "collect_cycles_after_startup", "mmap_large_blocks"]

_log = logging.getLogger(__name__)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_ARENAS = 2
# Allocations (net of frees) between two collections of the youngest generation; Python's
# default is 700. A 512-span export makes tens of thousands of objects that live until it is
# stored: at 700 each export was scanned many times over and promoted to older generations,
# to be scanned there again (3.5 µs a span, 2% of the pipeline, ``bench.pipeline_steps``'
# batches; 0.3 µs at 10,000). Nearly all of it is freed by reference counting: at most this
# many objects of cyclic garbage wait for a collection.
_YOUNG_COLLECTION_EVERY = 10_000
_LARGE = 256 * 1024  # blocks this large or larger are mmapped, and unmapped when freed


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only: musl has no malloc_trim)
    except (OSError, AttributeError):
        return None
    return libc


def collect_cycles_after_startup() -> None:
    """Turn the cyclic garbage collector on (``cli`` turns it off while starting) for what
    comes next: everything built so far lives as long as the process, so it is frozen out of
    every collection (measured: a fifth less CPU per ingested span); young objects are
    collected every ``_YOUNG_COLLECTION_EVERY`` allocations."""
    gc.freeze()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
    gc.enable()


def mmap_large_blocks() -> None:
    """Serve blocks of 256 KB and more with mmap for good (no adaptive threshold), from at
    most two arenas; call before the process starts its threads."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _LARGE)
        libc.mallopt(_M_ARENA_MAX, _ARENAS)


class Bursts:
    """Tells, from the CPU a process used in each period, when a burst of work ended.

    A period counts as busy when the process used more than ``busy_share`` of a core in it
    (an idle collector's background threads use far less). :meth:`period` answers
    ``"release"`` for the first quiet period after a busy one, ``"trim"`` every
    ``trim_every_s`` otherwise (busy or not: a trickle of work frees memory too), else
    ``None``.
    """

    def __init__(self, *, busy_share: float = 0.02, trim_every_s: float = 10.0) -> None:
        self.busy_share = busy_share
        self.trim_every_s = trim_every_s
        self._busy = False
        self._since_trim = 0.0

    def period(self, cpu_s: float, wall_s: float) -> str | None:
        self._since_trim += wall_s
        if cpu_s > self.busy_share * wall_s:
            self._busy = True
        elif self._busy:
            self._busy = False
            self._since_trim = 0.0
            return "release"
        if self._since_trim >= self.trim_every_s:
            self._since_trim = 0.0
            return "trim"
        return None


class BurstRelease:
    """A daemon thread that gives memory back every ``trim_every_s`` (trims) and once a burst
    ends (collects garbage, runs the hooks, trims): see the module doc."""

    def __init__(self, *, check_s: float = 2.0, trim_every_s: float = 10.0) -> None:
        self._check_s = check_s
        self._bursts = Bursts(trim_every_s=trim_every_s)
        self._hooks: list[Callable[[], None]] = []
        self._libc = _libc()

    def on_release(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (from this thread) each time a burst has ended, before trimming."""
        self._hooks.append(hook)

    def start(self) -> None:
        NamedThread(target=self._loop, name="memory-release", daemon=True).start()

    def release(self) -> None:
        """Collect garbage cycles, run the hooks, return the arenas' free memory."""
        gc.collect()
        for hook in list(self._hooks):
            try:
                hook()
            except Exception:  # giving memory back must never take the process down
                _log.warning("memory release hook failed", exc_info=True)
        self._trim()

    def _trim(self) -> None:
        if self._libc is not None:
            self._libc.malloc_trim(0)  # ctypes releases the GIL for the call

    def _loop(self) -> None:
        cpu = time.process_time()
        while True:
            time.sleep(self._check_s)  # a timer: no event announces that work stopped
            now = time.process_time()
            action = self._bursts.period(now - cpu, self._check_s)
            if action == "trim":
                self._trim()
            elif action == "release":
                self.release()
            cpu = time.process_time()  # the release's own CPU is not the next period's work
