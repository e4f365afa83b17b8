"""Restart-to-ready time of the real collector, and where it goes.

    .venv/bin/python -m bench.startup              # 1 and 2 workers, fresh and existing store
    .venv/bin/python -m bench.startup --quick      # one run each

Each run starts ``glassline-collector`` (a subprocess) and waits until ``/readyz`` answers and
every worker said it is ready (as the tests do). Fresh: a new SQLite file (migrations run);
restart: the same file again, as after a crash. The phases come from the log's timestamps:
start -> first log line (Python imports), -> workers started (migrations), -> last worker
ready (worker start: receivers, pipeline, store). The baseline, measured in the same run, is
``python -c "import glassline.collector.server"``: a restart cannot be faster than that.
Where the imports go is printed first, as CPU seconds per group of packages (with the
cyclic garbage collector on, and off as the collector's command line runs them).

Bytecode decides more than any of the collector's own code: a module without a ``.pyc``
is compiled from source at every start (over half the import CPU). ``pip install`` and
the Docker image compile it at install; ``uv pip install`` does not unless told
(``--compile-bytecode``), and ``PYTHONDONTWRITEBYTECODE=1`` keeps Python from caching it.
The bench prints how many of the collector's modules have none, and ``--bytecode`` picks:
``as-installed`` (the environment as it is), ``cached`` (compiled once into a cache of the
bench's own, as after ``pip install``), ``none`` (everything compiled at every start).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from glassline.collector.testing import RunningCollector, cpu_seconds, run_collector

# Set by main() from --bytecode: the environment of every Python process the bench starts.
_ENV: dict[str, str] = dict(os.environ)

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _stamps(logs: str) -> list[tuple[float, str]]:
    out = []
    for line in logs.splitlines():
        match = _STAMP.match(line)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((at, line))
    return out


def _phases(collector: RunningCollector, started_wall: float) -> dict[str, float]:
    lines = _stamps(collector.logs())
    first = lines[0][0]
    spawned = next((at for at, line in lines if "started" in line and "workers" in line), first)
    ready = max(at for at, line in lines if "ready" in line or "listening" in line)
    return {
        "imports": first - started_wall,
        "migrations": spawned - first,
        "worker start": ready - spawned,
    }


def one_start(workdir: Path, workers: int) -> tuple[float, dict[str, float]]:
    """Wall seconds to ready, and the phases (plus "CPU": the collector's processes' CPU
    seconds at ready, which holds up on a busy host where the wall time does not)."""
    config = {"server": {"workers": workers}, "logging": {"level": "INFO"}}
    started_wall, started = time.time(), time.perf_counter()
    with run_collector(config, workdir=workdir, ready_timeout_s=300, env=_ENV) as collector:
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(collector.pids())
        phases = _phases(collector, started_wall)
    return elapsed, {**phases, "CPU": cpu}


def import_baseline() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import glassline.collector.server"], check=True, env=_ENV
    )
    return time.perf_counter() - started


# What the collector imports, in groups, each timed after the ones before it are loaded.
_GROUPS = {
    "grpc, uvicorn, starlette, pydantic": ["grpc", "uvicorn", "starlette.applications", "pydantic"],
    "SQLAlchemy": ["sqlalchemy", "sqlalchemy.orm"],
    "Alembic (migrating only: not on a restart)": ["alembic.command"],
    "Presidio + spaCy (redaction)": ["presidio_analyzer"],
    "the collector's own modules": ["glassline.collector.server"],
}
_IMPORT_CPU = """
import gc, importlib, json, sys, time
if sys.argv[1] == "off":
    gc.disable()  # as the collector's command line does while it starts
out = {}
for name, modules in json.loads(sys.argv[2]).items():
    t = time.process_time()
    for m in modules:
        importlib.import_module(m)
    out[name] = time.process_time() - t
print(json.dumps(out))
"""


def import_cpu(gc_mode: str) -> dict[str, float]:
    """CPU seconds of each import group (CPU, not wall: it holds up on a busy host)."""
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_CPU, gc_mode, json.dumps(_GROUPS)],
        check=True, capture_output=True, text=True, env=_ENV,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


_UNCACHED = """
import importlib, json, os, sys
from importlib.machinery import SourceFileLoader
from importlib.util import cache_from_source
for m in ["glassline.collector.supervisor", *json.loads(sys.argv[1])]:
    importlib.import_module(m)
loaded = [m for m in list(sys.modules.values()) if isinstance(getattr(m, "__loader__", None), SourceFileLoader)]
missing = [m for m in loaded if not os.path.exists(cache_from_source(m.__file__))]
print(json.dumps([len(loaded), len(missing)]))
"""


def uncached_modules() -> tuple[int, int]:
    """(modules a start imports from a ``.py`` file, how many of them have no ``.pyc``)."""
    modules = [m for group in _GROUPS.values() for m in group]
    out = subprocess.run(
        [sys.executable, "-c", _UNCACHED, json.dumps(modules)],
        check=True, capture_output=True, text=True, env=_ENV,
    )  # fmt: skip
    total, missing = json.loads(out.stdout)
    return total, missing


def bytecode_env(mode: str, cache_dir: Path) -> dict[str, str]:
    """The environment for ``--bytecode``: ``cached`` and ``none`` point Python at a
    ``.pyc`` cache of their own (``PYTHONPYCACHEPREFIX``), written or not."""
    env = dict(os.environ)
    if mode == "as-installed":
        return env
    env["PYTHONPYCACHEPREFIX"] = str(cache_dir)
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def print_import_cpu(runs: int) -> None:
    for mode in ("on", "off"):
        samples = [import_cpu(mode) for _ in range(runs)]
        groups = {g: statistics.median(s[g] for s in samples) for g in _GROUPS}
        total = sum(groups.values())
        split = ", ".join(f"{g} {t:.2f}" for g, t in groups.items())
        print(f"import CPU, gc {mode:<3}: {total:5.2f} s   ({split})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per scenario")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--bytecode", choices=("as-installed", "cached", "none"), default="as-installed",
        help="as-installed: the .pyc files as they are; cached: compiled once (as pip "
        "install does); none: every module compiled from source at every start",
    )  # fmt: skip
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="glassline-pycache-") as cache_dir:
        _ENV.clear()
        _ENV.update(bytecode_env(args.bytecode, Path(cache_dir)))
        return _measure(runs, args.bytecode)


def _measure(runs: int, bytecode: str) -> int:
    total, missing = uncached_modules()  # with --bytecode cached, this run fills the cache
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"load average {load} on {os.cpu_count()} cores")
    print(
        f"bytecode {bytecode}: {missing} of the {total} modules a start imports from .py "
        "files have no .pyc (compiled from source at every start)"
    )
    print_import_cpu(runs)
    baseline = statistics.median(import_baseline() for _ in range(runs))
    print(f"baseline: import glassline.collector.server  {baseline:6.2f} s")
    print(f"{'scenario':<26}{'ready s':>9}{'x import':>9}   phases (median)")
    for workers in (1, 2):
        for fresh in (True, False):
            times, phases = [], []
            for _ in range(runs):
                with tempfile.TemporaryDirectory(prefix="glassline-startup-") as tmp:
                    if not fresh:
                        one_start(Path(tmp), workers)  # create and migrate the store first
                    elapsed, phase = one_start(Path(tmp), workers)
                times.append(elapsed)
                phases.append(phase)
            ready = statistics.median(times)
            split = ", ".join(
                f"{name} {statistics.median(p[name] for p in phases):.2f}" for name in phases[0]
            )
            name = (
                f"{workers} worker{'s' if workers > 1 else ''}, {'fresh' if fresh else 'restart'}"
            )
            print(f"{name:<26}{ready:9.2f}{ready / baseline:9.2f}   {split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
