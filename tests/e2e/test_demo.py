"""`make demo` works: continuous traffic, the scripted incident, the ports, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from examples.demo import ADMIN_KEY, TENANTS
from examples.ports import Ports, busy
from glassline.collector.testing import free_port

ROOT = Path(__file__).resolve().parents[2]


def _ports() -> Ports:
    return Ports(free_port(), free_port(), free_port())


@contextmanager
def _demo(
    tmp_path: Path, ports: Ports, *args: str, shell: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """The demo with its output in ``tmp_path/demo.log`` (a file: nothing blocks on a pipe)."""
    cmd = [sys.executable, "-m", "examples.demo", "--workdir", str(tmp_path),
           "--ports", ",".join(map(str, ports)), *args]  # fmt: skip
    if shell:  # a parent like `make` that does not pass SIGHUP on
        cmd = ["sh", "-c", " ".join(cmd) + "; exit $?"]
    with (tmp_path / "demo.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_signals)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _default_signals() -> None:
    """Undo what a launcher such as ``nohup`` or a background ``&`` set: a shell keeps a
    signal ignored at its start ignored, and these tests send SIGHUP and SIGINT."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _log(tmp_path: Path) -> str:
    return (tmp_path / "demo.log").read_text(errors="replace")


def _wait(done: Callable[[], bool], proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    """Poll ``done`` (the demo's log or store) until true; fail if the demo ends first."""
    deadline = time.monotonic() + 240
    while not done():
        assert proc.poll() is None, f"the demo ended:\n{_log(tmp_path)[-3000:]}"
        assert time.monotonic() < deadline, f"timed out:\n{_log(tmp_path)[-3000:]}"
        time.sleep(0.2)


def _leftovers(ports: Ports) -> list[str]:
    """Processes still running that the demo started (they all name the collector's port)."""
    mark = f"127.0.0.1:{ports.grpc}".encode()
    found = []
    for pid in filter(str.isdecimal, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if mark in cmdline and state != "Z":
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found + busy(ports)


def test_demo_tells_its_story_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ports = _ports()
    with _demo(tmp_path, ports, "--incident-after", "8") as proc:
        _wait(lambda: "Dashboard:" in _log(tmp_path), proc, tmp_path)
        assert f"http://localhost:{ports.dashboard}/?range=1h" in _log(tmp_path)
        # The demo's alert rules are loaded, and every tenant has a budget the dashboard shows.
        with httpx.Client(base_url=f"http://127.0.0.1:{ports.http}",
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:  # fmt: skip
            rules = {r["name"] for r in api.get("/api/v1/alerts").json()["rules"]}
            assert {"prompt-bloat", "hourly-spend", "generate-p95", "llm-errors"} <= rules
            _wait(lambda: len(_budgets(api)) == len(TENANTS), proc, tmp_path)
            assert _budgets(api) == dict.fromkeys(TENANTS, "hourly-spend")
        # The deployed version's new stage reaches the store, then Ctrl-C.
        _wait(lambda: "expand_context" in _stages(tmp_path), proc, tmp_path)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    out = _log(tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert "[demo] incident" in out and "stopped unexpectedly" not in out
    assert _leftovers(ports) == []
    with sqlite3.connect(tmp_path / "demo.db") as db:
        tenants = dict(db.execute("select tenant, count(*) from traces group by tenant"))
        sessions = db.execute("select count(distinct session_id) from traces").fetchone()[0]
        versions = {
            (tenant, json.loads(resource).get("service.version"))
            for tenant, resource in db.execute("select tenant, resource from spans")
        }
        prompts = set(db.execute("select distinct tenant, service_version, prompt_version "
                                 "from rollups where stage = 'generate' and kind = 'llm'"))  # fmt: skip
    assert set(tenants) == {"acme", "globex", "initech"}
    assert sessions > 3
    assert ("acme", "1.5.0") in versions and ("globex", "1.5.0") not in versions
    # The deployment's prompt is a new version, counted under it in the rollups.
    assert ("acme", "1.5.0", "v2-sections") in prompts and ("globex", "1.4.0", "v1") in prompts


def _budgets(api: httpx.Client) -> dict[str, str]:
    """The budget rule per tenant that has spent (an admin sees every tenant)."""
    return {b["tenant"]: b["rule"] for b in api.get("/api/v1/budgets").json()["budgets"]}


def _stages(workdir: Path) -> set[str]:
    try:
        with sqlite3.connect(workdir / "demo.db") as db:
            return {s for (s,) in db.execute("select distinct stage from rollups")}
    except sqlite3.Error:
        return set()


def test_sighup_to_the_parent_stops_every_process(tmp_path: Path) -> None:
    ports = _ports()
    with _demo(tmp_path, ports, "--incident-after", "600", shell=True) as proc:
        _wait(lambda: "Dashboard:" in _log(tmp_path), proc, tmp_path)
        proc.send_signal(signal.SIGHUP)  # the shell dies; the demo learns it from the kernel
        proc.wait(timeout=60)
        deadline = time.monotonic() + 120
        while _leftovers(ports) and time.monotonic() < deadline:
            time.sleep(0.2)  # the children stop after the shell is gone
    assert _leftovers(ports) == [], _log(tmp_path)[-3000:]
    assert "[demo] shutting down (SIGTERM)" in _log(tmp_path)


def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    ports = _ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.http))
        taken.listen()
        with _demo(tmp_path, ports) as proc:
            proc.wait(timeout=60)
    out = _log(tmp_path)
    assert proc.returncode != 0
    assert f"port {ports.http} (http) is already in use" in out
    assert "DEMO_PORTS=" in out
    assert not (tmp_path / "demo.db").exists()
