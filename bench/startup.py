"""Restart-to-ready time of the real collector, and where it goes.

    .venv/bin/python -m bench.startup              # 1 and 2 workers, fresh and existing store
    .venv/bin/python -m bench.startup --quick      # one run each

Each run starts ``glassline-collector`` (a subprocess) and waits until ``/readyz`` answers and
every worker said it is ready (as the tests do). Fresh: a new SQLite file (migrations run);
restart: the same file again, as after a crash. The phases come from the log's timestamps:
start -> first log line (Python imports), -> workers started (migrations), -> last worker
ready (worker start: receivers, pipeline, store). The baseline, measured in the same run, is
``python -c "import glassline.collector.server"``: a restart cannot be faster than that.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from glassline.collector.testing import RunningCollector, run_collector

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
    config = {"server": {"workers": workers}, "logging": {"level": "INFO"}}
    started_wall, started = time.time(), time.perf_counter()
    with run_collector(config, workdir=workdir, ready_timeout_s=300) as collector:
        elapsed = time.perf_counter() - started
        phases = _phases(collector, started_wall)
    return elapsed, phases


def import_baseline() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import glassline.collector.server"], check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per scenario")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
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
