"""`make demo`: the collector, the example RAG app sending traffic, and the dashboard.

Everything runs on this machine on the embedded default store (a SQLite file under
``.glassline/``). Ctrl-C stops everything cleanly. ``--exit-when-ready`` runs the traffic,
checks the dashboard answers, and exits (used by the tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from examples.fake_provider import FakeOpenAI, ProviderBehaviour
from glassline.collector.testing import free_port

TENANTS = {"acme": "demo-acme-key", "globex": "demo-globex-key", "initech": "demo-initech-key"}
ADMIN_KEY = "demo-admin-key"


def write_config(workdir: Path, grpc_port: int, http_port: int) -> Path:
    db = workdir / "demo.db"
    tenants = "\n".join(f"    {t}: [{k}]" for t, k in TENANTS.items())
    config = f"""\
# Written by `make demo`. See collector/collector.example.yaml for every option.
server:
  host: 127.0.0.1
  grpc_port: {grpc_port}
  http_port: {http_port}
auth:
  tenants:
{tenants}
  admin_keys: [{ADMIN_KEY}]
storage:
  url: sqlite:///{db}
"""
    path = workdir / "demo-collector.yaml"
    path.write_text(config)
    return path


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {deadline_s:.0f}s")


def send_traffic(otlp_endpoint: str, provider_url: str, requests: int) -> None:
    """One app process per tenant, in parallel: the tenant comes from each one's API key."""
    procs = []
    for seed, (tenant, key) in enumerate(TENANTS.items(), start=1):
        env = os.environ | {"GLASSLINE_API_KEY": key, "OTEL_SERVICE_NAME": f"rag-{tenant}"}
        cmd = [
            sys.executable,
            "-m",
            "examples.rag_app",
            "--requests",
            str(requests),
            "--seed",
            str(seed),
            "--endpoint",
            otlp_endpoint,
            "--provider-url",
            provider_url,
            "--service-name",
            f"rag-{tenant}",
        ]
        procs.append((tenant, subprocess.Popen(cmd, env=env)))
    for tenant, proc in procs:
        if proc.wait(timeout=600) != 0:
            raise SystemExit(f"the example app for {tenant} failed ({proc.returncode})")


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in 15s; killing it")
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=120, help="traces per tenant (default 120)")
    parser.add_argument(
        "--workdir", default=".glassline", help="where the SQLite file and config go"
    )
    parser.add_argument("--dashboard-port", type=int, default=8501)
    parser.add_argument("--fresh", action="store_true", help="start from an empty store")
    parser.add_argument(
        "--exit-when-ready", action="store_true", help="exit once the dashboard answers"
    )
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).resolve()
    if args.fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    config = write_config(workdir, grpc_port, http_port)
    bin_dir = Path(sys.executable).parent
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        print(
            f"[demo] starting the collector (gRPC :{grpc_port}, HTTP :{http_port}, store {workdir / 'demo.db'})"
        )
        collector = subprocess.Popen(
            [str(bin_dir / "glassline-collector"), "--config", str(config)]
        )
        children.append(("collector", collector))
        wait_http(f"http://127.0.0.1:{http_port}/readyz", 60, collector)

        with FakeOpenAI(
            ProviderBehaviour(rate_limit_share=0.08, outages={"gpt-4o-mini": 0.05})
        ) as provider:
            print(
                f"[demo] sending {args.requests} traces for each of {', '.join(TENANTS)} through {provider.base_url}"
            )
            send_traffic(f"http://127.0.0.1:{grpc_port}", provider.base_url, args.requests)

        print("[demo] starting the dashboard")
        dashboard = subprocess.Popen(
            [
                str(bin_dir / "glassline-dashboard"),
                "--db",
                f"sqlite:///{workdir / 'demo.db'}",
                "--port",
                str(args.dashboard_port),
            ]
        )
        children.append(("dashboard", dashboard))
        wait_http(f"http://127.0.0.1:{args.dashboard_port}/_stcore/health", 90, dashboard)
        print(f"\n  Dashboard:  http://localhost:{args.dashboard_port}")
        print(
            f"  Query API:  curl -H 'Authorization: Bearer {ADMIN_KEY}' http://127.0.0.1:{http_port}/api/v1/traces"
        )
        print(
            f"  OTLP:       grpc 127.0.0.1:{grpc_port}  http http://127.0.0.1:{http_port}/v1/traces"
        )
        if args.exit_when_ready:
            return
        print("\n  Ctrl-C stops everything.\n")
        while all(proc.poll() is None for _, proc in children):
            time.sleep(0.5)
        dead = [name for name, proc in children if proc.poll() is not None]
        raise SystemExit(f"[demo] {', '.join(dead)} stopped unexpectedly")
    except KeyboardInterrupt:
        print("\n[demo] shutting down")
    finally:
        for name, proc in reversed(children):
            stop(proc, name)


if __name__ == "__main__":
    main()
