"""Test helpers that ship: start the REAL collector as a subprocess on free loopback ports.

::

    from glassline.collector.testing import run_collector

    with run_collector({"storage": {"url": f"sqlite:///{tmp_path}/gl.db"}}) as collector:
        exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True,
                                    headers={"x-glassline-api-key": collector.api_key})
        ...
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from glassline.collector.auth import generate_key

__all__ = [
    "RunningCollector",
    "child_pids",
    "cpu_seconds",
    "free_port",
    "metric_by_label",
    "rss_bytes",
    "run_collector",
]


def metric_by_label(http_endpoint: str, name: str, label: str) -> dict[str, float]:
    """A collector's counter ``name`` (e.g. ``glassline_exports_run_total``) from its
    ``/metrics``, summed by the value of ``label``."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{http_endpoint}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + "{") and f'{label}="' in line:
            value = line.split(f'{label}="', 1)[1].split('"', 1)[0]
            out[value] = out.get(value, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


# Below the kernel's ephemeral range (Linux's default starts at 32768), down to this port.
_LOWEST_PORT = 20_000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago, below the kernel's ephemeral range.

    A port the kernel picks (bind to 0) lies in the range every outgoing connection takes its
    local port from, and one did take it between this call and the collector's bind (CI:
    "Address already in use"). Below that range the kernel hands nothing out; a port is given
    once per process, and one something listens on is skipped.
    """
    start = _ephemeral_start()
    if start - _LOWEST_PORT >= 1_000:  # else a kernel whose ephemeral range starts low
        for _ in range(1_000):
            port = random.randrange(_LOWEST_PORT, start)
            if port in _handed_out:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCollector:
    """A collector subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path
    grpc_port: int
    http_port: int
    api_key: str
    tenant: str
    admin_key: str
    db_url: str
    api_keys: dict[str, str] = field(default_factory=dict)  # tenant -> key
    tls: bool = False

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` for the OTLP gRPC exporter."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL of the HTTP port (``/v1/traces``, ``/api/v1``, ``/metrics``)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}"

    def headers(self, tenant: str | None = None) -> dict[str, str]:
        key = self.api_keys[tenant] if tenant else self.api_key
        return {"authorization": f"Bearer {key}"}

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def pids(self) -> list[int]:
        """The collector's processes: the one started, and its workers if it supervises."""
        return [self.process.pid, *child_pids(self.process.pid)]

    def workers(self) -> tuple[list[int], int | None]:
        """The runners' pids and the front's, from the supervisor's "started N workers" log
        line; none of either for a collector in one process."""
        found = re.search(r"started \d+ workers: ([\d, ]+); the front \(receivers\): (\d+)",
                          self.logs())  # fmt: skip
        if found is None:
            return [], None
        return [int(pid) for pid in found.group(1).split(", ")], int(found.group(2))


def _prepare(
    config: Mapping[str, Any] | str | Path, workdir: Path, tenants: list[str]
) -> tuple[dict[str, Any], dict[str, str], str]:
    data = dict(config) if isinstance(config, Mapping) else yaml.safe_load(Path(config).read_text())
    data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (data or {}).items()}
    server = data.setdefault("server", {})
    server.setdefault("host", "127.0.0.1")
    server.setdefault("grpc_port", free_port())
    server.setdefault("http_port", free_port())
    server.setdefault("shutdown_grace_s", 10)
    data.setdefault("storage", {}).setdefault("url", f"sqlite:///{workdir / 'glassline.db'}")
    auth = data.setdefault("auth", {})
    keys = {tenant: generate_key() for tenant in tenants}
    admin_key = generate_key()
    tenant_keys = {t: list(v) for t, v in auth.get("tenants", {}).items()}
    for tenant, key in keys.items():
        tenant_keys.setdefault(tenant, []).append(key)
    auth["tenants"] = tenant_keys
    auth["admin_keys"] = [*auth.get("admin_keys", []), admin_key]
    return data, keys, admin_key


@contextlib.contextmanager
def run_collector(
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    tenants: tuple[str, ...] = ("acme", "globex"),
    env: Mapping[str, str] | None = None,
    workdir: str | Path | None = None,
    ready_timeout_s: float = 60.0,  # of the collector's CPU time: see _wait_ready
    stop_timeout_s: float = 30.0,
    wrap: Sequence[str] = (),
) -> Iterator[RunningCollector]:
    """Start ``glassline-collector`` with ``config`` (a mapping or YAML path) and wait for /readyz.

    ``wrap`` is a command that runs the collector's command line given after it, in its own
    process (it must ``exec`` it): ``unshare ... sh -c '...; exec "$@"' sh``, say.

    Free loopback ports, an SQLite file in ``workdir`` (unless ``storage.url`` is given), one
    fresh API key per tenant in ``tenants`` plus an admin key are added to the config. On exit
    the collector gets SIGTERM, then SIGKILL after ``stop_timeout_s``.
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="glassline-"))
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
        data, keys, admin_key = _prepare(config or {}, work, list(tenants))
        config_path = work / "collector.yaml"
        config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
        log_path = work / "collector.log"
        log = stack.enter_context(log_path.open("wb"))
        process = subprocess.Popen(
            [*wrap, sys.executable, "-m", "glassline.collector.cli", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        running = RunningCollector(
            process=process,
            config_path=config_path,
            log_path=log_path,
            grpc_port=data["server"]["grpc_port"],
            http_port=data["server"]["http_port"],
            api_key=keys[tenants[0]] if tenants else admin_key,
            tenant=tenants[0] if tenants else "*",
            admin_key=admin_key,
            db_url=data["storage"]["url"],
            api_keys=keys,
            tls=bool(data["server"].get("tls")),
        )
        try:
            _wait_ready(running, ready_timeout_s, workers=int(data["server"].get("workers", 1)))
            yield running
        finally:
            stop(running, stop_timeout_s)


def _wait_ready(running: RunningCollector, timeout_s: float, workers: int) -> None:
    # /readyz answers from whichever worker took the connection, so with several workers
    # each one's "ready" line is awaited too: a test must not race a worker still starting.
    # The budget is the CPU time the collector spends starting, not the wall clock: on a
    # busy machine a start takes many times its CPU time, and that is no failure. A hang
    # spends no CPU: the wall clock still ends it, at ten times the budget.
    started = time.monotonic()
    url = f"{running.http_endpoint}/readyz"
    lines = [f"worker {i} of {workers} ready" for i in range(1, workers + 1)] if workers > 1 else []
    with httpx.Client(timeout=2.0, verify=False) as client:
        while cpu_seconds(running.pids()) < timeout_s and (
            time.monotonic() - started < 10 * timeout_s
        ):
            if running.process.poll() is not None:
                raise RuntimeError(
                    f"collector exited with {running.process.returncode}:\n{running.logs()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    logs = running.logs()
                    if all(line in logs for line in lines):
                        return
            time.sleep(0.05)  # polling a subprocess: there is no event to await
    raise TimeoutError(f"collector not ready after {timeout_s}s of CPU time:\n{running.logs()}")


def _named_stat(path: str) -> tuple[str, list[str]] | None:
    """A ``/proc`` stat file's name and its fields from the state on (the 3rd)."""
    try:
        text = Path(path).read_text()
    except OSError:  # the process or thread ended
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def _stat(pid: int) -> list[str] | None:
    named = _named_stat(f"/proc/{pid}/stat")
    return None if named is None else named[1]


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime, stime


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (0 where ``/proc`` is missing)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += _cpu_ticks(fields)
    return total / ticks


def thread_cpu_seconds(pids: list[int]) -> dict[str, float]:
    """User + system CPU time so far of the live threads of these processes, summed by the
    threads' OS names (the collector names its threads: glassline.collector.threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):  # none once the process ended
            named = _named_stat(f"{task}/stat")
            if named is not None:
                name, fields = named
                by_name[name] = by_name.get(name, 0.0) + _cpu_ticks(fields) / ticks
    return by_name


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes now (0 where ``/proc`` is missing)."""
    page = os.sysconf("SC_PAGE_SIZE")
    return sum(int(fields[21]) * page for pid in pids if (fields := _stat(pid)) is not None)


def stop(running: RunningCollector, timeout_s: float = 30.0) -> int:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Returns the exit code."""
    proc = running.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
