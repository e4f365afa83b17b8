"""Runs the collector: one process, or a supervisor with N runners and a front.

The supervisor takes the port lock, migrates the store once, forks the processes (after its
imports, so they start warm), forwards signals, and stops them all when one dies: nothing
half-alive keeps answering. Each child dies with it (see :mod:`.lifetime`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from glassline.collector.config import CollectorConfig
from glassline.collector.errors import ListenError
from glassline.collector.handoff import Mesh
from glassline.collector.lifetime import AlreadyRunning, PortLock, die_with_parent, parent_gone
from glassline.collector.memory import BurstRelease, mmap_large_blocks
from glassline.collector.server import Role, Worker
from glassline.collector.storage import Store
from glassline.collector.threads import name_os_thread

__all__ = ["run", "setup_logging"]

_log = logging.getLogger("glassline.collector")
_CHATTY_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(config: CollectorConfig) -> None:
    """Root logging per ``logging``; JSON lines or text. Never logs payload content."""
    handler = logging.StreamHandler()
    if config.logging.format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
        )
    logging.basicConfig(level=config.logging.level, handlers=[handler], force=True)
    for name in _CHATTY_LOGGERS:  # Presidio logs every recognizer it loads at INFO
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_worker(
    config: CollectorConfig, index: int = 0, supervisor: int | None = None,
    mesh: Mesh | None = None, role: Role = "all",
) -> None:  # fmt: skip
    setup_logging(config)
    if supervisor is not None:  # a supervised process: its supervisor's death is its own
        die_with_parent(supervisor)
        PortLock(config.server).join()
        name_os_thread("gl-front" if role == "front" else f"gl-runner-{index}")
    mmap_large_blocks()
    if role == "front":
        _yield_to_runners()
    memory = BurstRelease()
    memory.start()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        worker = Worker(config, index=index, mesh=mesh, role=role, memory=memory)
        loop.add_signal_handler(signal.SIGHUP, worker.reload)
        watch = None if supervisor is None else asyncio.create_task(_watch(supervisor, stop))
        await worker.serve(stop)
        if watch is not None:
            watch.cancel()

    try:
        asyncio.run(main())
    except ListenError as exc:  # a port in use: one line, not a traceback
        _log.error("%s", exc.message)
        raise SystemExit(1) from None


def _yield_to_runners() -> None:
    """Let the front's wake-ups wait for a core instead of preempting a runner (Linux's
    SCHED_BATCH, for this thread and every thread it starts; other systems: nothing).

    Under overload the front wakes about a thousand times a second, for a fraction of a
    millisecond each, to refuse. A runner preempted by one of those wake-ups in the middle of
    its write transaction keeps the store's single write lock while it waits for a core: the
    lock was held 14-17 ms per export in overload against 10-11 ms at capacity, the CPU in it
    the same. SCHED_BATCH keeps the front's share of the CPU; its answers wait at most a
    scheduler slice for a core, a few milliseconds against the 50 ms a refusal may take.
    """
    with contextlib.suppress(AttributeError, OSError):  # no sched_setscheduler: not Linux
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


async def _watch(supervisor: int, stop: asyncio.Event) -> None:
    """Stop when the supervisor is gone, where the kernel does not signal it (not Linux)."""
    while not stop.is_set():
        if parent_gone(supervisor):
            _log.warning("the supervisor (pid %d) is gone: shutting down", supervisor)
            stop.set()
        await asyncio.sleep(1.0)  # no event announces a parent's death: poll


def run(config: CollectorConfig) -> int:
    """Run the collector until SIGTERM/SIGINT; with ``workers > 1`` as a supervisor.

    Returns the exit code: 0 after a requested shutdown, 1 if a worker died on its own or
    another collector holds the ports.
    """
    setup_logging(config)
    lock = PortLock(config.server)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        _log.error("%s", exc)
        return 1
    if config.server.workers == 1:
        _run_worker(config)
        return 0
    Store.open(config.storage).close()  # migrate once, before the workers race to do it
    lock.share()
    with _multiprocess_metrics_dir():
        return _supervise(config)


@contextlib.contextmanager
def _multiprocess_metrics_dir() -> Iterator[None]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="glassline-metrics-") as path:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _supervise(config: CollectorConfig) -> int:
    # fork, not spawn: each worker starts with the modules the supervisor already imported
    # (Presidio, SQLAlchemy, grpc: most of a cold start) instead of importing them again, all
    # at once, on the same cores. Nothing here has started a thread or a grpc object yet.
    ctx = multiprocessing.get_context("fork")
    # What is imported now is every child's for good: frozen, no child's collections touch
    # (and so copy) its pages.
    gc.freeze()
    n = config.server.workers
    mesh = Mesh(n)
    procs = [
        ctx.Process(target=_run_worker, args=(config, i, os.getpid(), mesh, "runner"),
                    name=f"worker-{i}")
        for i in range(n)
    ]  # fmt: skip
    procs.append(ctx.Process(target=_run_worker, args=(config, n, os.getpid(), mesh, "front"),
                             name="front"))  # fmt: skip
    stopping = False
    failed = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        _signal_all(procs, signal.SIGTERM)

    # Handlers first, so a SIGTERM during startup cannot orphan the workers.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # Workers inherit "ignore SIGHUP" until they install their own reload handler.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for proc in procs:
        proc.start()
    mesh.close()
    signal.signal(signal.SIGHUP, lambda *_: _signal_all(procs, signal.SIGHUP))  # rule reload
    _log.info("started %d workers: %s; the front (receivers): %s", n,
              ", ".join(str(p.pid) for p in procs[:n]), procs[n].pid)  # fmt: skip
    while any(p.is_alive() for p in procs):
        for proc in procs:
            proc.join(0.2)
            if not proc.is_alive() and not stopping:
                failed = True
                _log.error("worker %s exited (code %s); stopping the others", proc.name,
                           proc.exitcode)  # fmt: skip
                forward(signal.SIGTERM, None)
    deadline = time.monotonic() + config.server.shutdown_grace_s + 10
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
    return 1 if failed else 0


def _signal_all(procs: list[Any], signum: int) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signum)
