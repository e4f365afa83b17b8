"""Workers never outlive their supervisor, and no collector starts beside one that is serving."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from glassline.collector.config import ServerConfig
from glassline.collector.lifetime import PortLock
from glassline.collector.testing import free_port, run_collector


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A dead child of a dead parent is reaped by init; until then it is a zombie.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[1].startswith("Z"))


def _policies(pid: int) -> set[int]:
    """The scheduling policies of the threads of process ``pid``."""
    policies = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            policies.add(os.sched_getscheduler(int(tid)))
    return policies


def test_the_front_waits_for_a_core_instead_of_preempting_the_runners(tmp_path: Path) -> None:
    with run_collector({"server": {"workers": 2}}, workdir=tmp_path) as collector:
        runners, front = collector.workers()
        assert len(runners) == 2
        assert _policies(front) == {os.SCHED_BATCH}  # every thread: the loops', gRPC's own
        assert all(_policies(pid) == {os.SCHED_OTHER} for pid in runners)


def test_sigkill_of_the_supervisor_alone_takes_its_workers_down(tmp_path: Path, h: Any) -> None:
    with run_collector({"server": {"workers": 2}}, workdir=tmp_path) as collector:
        runners, front = collector.workers()
        workers = [*runners, front]
        assert all(_alive(pid) for pid in workers)
        collector.process.kill()  # the supervisor only: its workers get no signal from it
        collector.process.wait(30)
        h.wait_for(lambda: not any(_alive(pid) for pid in workers), "the workers to exit", 60)
        # Nothing answers on the ports any more.
        try:
            reply = httpx.get(f"{collector.http_endpoint}/healthz", timeout=5)
        except httpx.HTTPError:
            reply = None
        assert reply is None


def test_a_collector_will_not_start_beside_a_process_holding_its_ports(tmp_path: Path) -> None:
    grpc_port, http_port = free_port(), free_port()
    server = {"host": "127.0.0.1", "grpc_port": grpc_port, "http_port": http_port, "workers": 2}
    lock = PortLock(ServerConfig(**server))
    config = tmp_path / "collector.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": server,
                "storage": {"url": f"sqlite:///{tmp_path / 'gl.db'}"},
                "auth": {"anonymous_tenant": "demo"},
            }
        )
    )
    # Stands in for an orphaned worker of an earlier collector: it holds the lock shared.
    fd = os.open(lock.path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        result = subprocess.run(
            [sys.executable, "-m", "glassline.collector.cli", "--config", str(config)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(fd)
    assert result.returncode == 1, result.stderr
    assert "another collector" in result.stderr
    assert "started 2 workers" not in result.stderr
