"""`make demo`: the collector, continuous traffic from three tenants, an incident, the dashboard.

Everything runs on this machine on the embedded default store (``.glassline/demo.db``, new
each run). Each tenant's app serves its users' sessions without pause. A few minutes in
(``--incident-after``, 180 s) two things go wrong, for the "What changed" page to find:

- acme deploys ``service.version`` 1.5.0, whose new ``expand_context`` stage puts whole
  sections (40x the text) into the ``generate`` stage's prompt: acme's spend per request jumps;
- the model provider slows down and sheds load on ``gpt-4o-mini``: p95 latency and fallbacks
  to ``gpt-4o`` rise for every tenant.

Alert rules written beside the store (``demo-alerts.yaml``) catch both as they happen and
print each alert in the terminal; the dashboard shows the budgets against them.

Ports default to the README's (OTLP gRPC 4317, HTTP 4318, dashboard 8501); ``--ports`` or
``DEMO_PORTS=GRPC,HTTP,DASHBOARD`` change them. A busy port is reported before anything starts.
The dashboard listens on 127.0.0.1 unless ``--dashboard-host`` says otherwise.
Ctrl-C, SIGTERM or SIGHUP stop every process the demo started and exit 0; if the demo itself
is killed, the kernel stops its children (parent-death signal), so nothing is left behind.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from examples import ports as demo_ports
from examples.fake_provider import FakeOpenAI, ProviderBehaviour

TENANTS = {"acme": "demo-acme-key", "globex": "demo-globex-key", "initech": "demo-initech-key"}
ADMIN_KEY = "demo-admin-key"
INCIDENT_TENANT = "acme"
# The view the printed link opens: the last hour by the minute. The store is new, minutes old;
# the dashboard's default (24 hours in 15-minute buckets, for a store with history) drew the
# demo's whole story, before and after the incident, as one or two points per chart.
DASHBOARD_VIEW = "?range=1h"
_PR_SET_PDEATHSIG = 1


class Shutdown(Exception):
    """SIGTERM or SIGHUP arrived: stop like on Ctrl-C."""


# Calibrated on the demo's traffic. Before the incident each tenant spends ~$0.25 an hour,
# generate answers within ~0.4 s at p95 and ~10% of gpt-4o-mini calls fail (rate limits and
# outages). After it acme's tokens per request jump ~10x within a minute, acme spends ~$1.50
# an hour (the budget warns 8-10 minutes after the incident starts, as the README says),
# p95 of generate passes 500 ms for everyone and a third of gpt-4o-mini calls fail. A `log`
# notifier prints each alert in this terminal.
ALERT_RULES = """\
# Written by `make demo`. Every rule kind and option: docs/alerts.md.
evaluation_interval: 10s
dashboard_url: http://localhost:{dashboard_port}
notifiers:
  - name: terminal
    type: log
    level: warning
rules:
  - name: prompt-bloat
    kind: spike
    metric: tokens_per_request
    window: 1m
    factor: 3
    baseline: {{type: ewma, alpha: 0.5, periods: 3}}
    min_requests: 10
  - name: hourly-spend
    kind: budget
    window: 1h
    warn_usd: 0.50
    limit_usd: 1.00
  - name: generate-p95
    kind: latency
    quantile: p95
    per: stage
    filters: {{stage: generate}}
    window: 5m
    threshold_ms: 500
    min_count: 20
    for: 1m
  - name: llm-errors
    kind: error_rate
    per: model
    window: 10m
    threshold: 0.22
    min_requests: 100
"""


def write_rules(workdir: Path, dashboard_port: int) -> Path:
    path = workdir / "demo-alerts.yaml"
    path.write_text(ALERT_RULES.format(dashboard_port=dashboard_port))
    return path


def write_config(workdir: Path, grpc_port: int, http_port: int, rules: Path) -> Path:
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
alerts:
  rules_file: {rules}
"""
    path = workdir / "demo-collector.yaml"
    path.write_text(config)
    return path


def dashboard_link(host: str, port: int) -> str:
    """The dashboard's address as the demo prints it, on the view that shows the incident."""
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    return f"http://{shown}:{port}/{DASHBOARD_VIEW}"


def wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200, the process dies, or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"[demo] process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"[demo] {url} did not answer within {deadline_s:.0f}s")


def _die_with_parent() -> None:
    """In a child before exec: the kernel sends SIGTERM when the demo dies (Linux only)."""
    # Not Linux: no prctl; the demo's own cleanup still stops its children.
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Children:
    """The processes the demo started, stopped in reverse order, each exactly once."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C in the terminal reaches the demo only, which then
        # stops each child in order (apps flush their spans before the collector stops).
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self.procs.append((name, proc))
        return proc

    def stop(self, name: str) -> None:
        for entry in [e for e in self.procs if e[0] == name]:
            _stop(*entry)
            self.procs.remove(entry)

    def stop_all(self) -> None:
        while self.procs:
            _stop(*self.procs.pop())

    def dead(self) -> list[str]:
        return [f"{name} (exit {p.returncode})" for name, p in self.procs if p.poll() is not None]


def _stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM: apps stop between requests and flush their spans, the collector drains."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"[demo] {name} did not stop in 20s; killing it", flush=True)
            proc.kill()
            proc.wait()


def app_command(tenant: str, seed: int, otlp: str, provider_url: str, *, docs: int) -> list[str]:
    return [
        sys.executable, "-m", "examples.rag_app", "--requests", "0", "--rate", "1.5",
        "--seed", str(seed), "--endpoint", otlp, "--provider-url", provider_url,
        "--service-name", f"rag-{tenant}", "--context-docs", str(docs),
    ]  # fmt: skip


def start_app(
    children: Children, tenant: str, otlp: str, provider_url: str, version: str, docs: int
) -> None:
    seed = list(TENANTS).index(tenant) + 1
    env = os.environ | {
        "GLASSLINE_API_KEY": TENANTS[tenant],
        "OTEL_RESOURCE_ATTRIBUTES": f"service.version={version},deployment.environment=demo",
    }
    cmd = app_command(tenant, seed, otlp, provider_url, docs=docs)
    # The app stops between requests and flushes its spans.
    children.start(f"app-{tenant}", cmd, env)


def incident(children: Children, provider: FakeOpenAI, otlp: str) -> None:
    """The scripted incident: a deploy with a bloated prompt, and a slower provider."""
    print(
        f"[demo] incident: {INCIDENT_TENANT} deploys service.version 1.5.0 (a new expand_context "
        "stage puts 40x the text into the generate prompt); the provider slows down and sheds "
        "gpt-4o-mini load",
        flush=True,
    )
    children.stop(f"app-{INCIDENT_TENANT}")
    start_app(children, INCIDENT_TENANT, otlp, provider.base_url, "1.5.0", docs=160)
    provider.behaviour.latency_s = (0.15, 0.6)
    provider.behaviour.outages = {"gpt-4o-mini": 0.3}


@contextmanager
def _signals_stop() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise Shutdown(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _terminal_foreground() -> Iterator[None]:
    """Make the demo the terminal's foreground process group while it runs.

    Ctrl-C then interrupts the demo alone, not ``make`` around it: the demo stops everything
    and exits 0, so ``make demo`` exits 0 too instead of reporting an interrupt.
    """
    try:
        fd = sys.stdin.fileno()
        owner = os.tcgetpgrp(fd)
    except (OSError, ValueError):
        yield  # no terminal (a test, a pipe): nothing to take over
        return
    old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.setpgid(0, 0)
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        signal.signal(signal.SIGTTOU, old_ttou)
        yield
        return
    try:
        yield
    finally:
        with suppress(OSError):
            os.tcsetpgrp(fd, owner)
        signal.signal(signal.SIGTTOU, old_ttou)


def run(args: argparse.Namespace, ports: demo_ports.Ports) -> None:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "demo.db"
    if not args.keep:
        for stale in workdir.glob("demo.db*"):
            stale.unlink()
    rules = write_rules(workdir, ports.dashboard)
    config = write_config(workdir, ports.grpc, ports.http, rules)
    bin_dir = Path(sys.executable).parent
    otlp = f"http://127.0.0.1:{ports.grpc}"
    children = Children()
    behaviour = ProviderBehaviour(rate_limit_share=0.06, outages={"gpt-4o-mini": 0.04})
    behaviour.latency_s = (0.02, 0.12)
    try:
        print(
            f"[demo] starting the collector (gRPC :{ports.grpc}, HTTP :{ports.http}, {db})",
            flush=True,
        )
        collector = children.start(
            "collector", [str(bin_dir / "glassline-collector"), "--config", str(config)]
        )
        wait_http(f"http://127.0.0.1:{ports.http}/readyz", 90, collector)
        with FakeOpenAI(behaviour) as provider:
            print(
                f"[demo] {', '.join(TENANTS)} send traffic through a fake provider at {provider.base_url}",
                flush=True,
            )
            for tenant in TENANTS:
                start_app(children, tenant, otlp, provider.base_url, "1.4.0", docs=4)
            print("[demo] starting the dashboard", flush=True)
            dashboard = children.start("dashboard", [
                str(bin_dir / "glassline-dashboard"), "--db", f"sqlite:///{db}",
                "--alerts-config", str(rules),
                "--port", str(ports.dashboard), "--address", args.dashboard_host,
            ])  # fmt: skip
            wait_http(f"http://127.0.0.1:{ports.dashboard}/_stcore/health", 120, dashboard)
            print(f"\n  Dashboard:  {dashboard_link(args.dashboard_host, ports.dashboard)}")
            print(
                f"  Query API:  curl -H 'Authorization: Bearer {ADMIN_KEY}' http://127.0.0.1:{ports.http}/api/v1/traces"
            )
            print(
                f"  OTLP:       grpc 127.0.0.1:{ports.grpc}  http http://127.0.0.1:{ports.http}/v1/traces"
            )
            print(f"  Alerts:     {rules} (budgets, latency, errors)")
            print(
                f"\n  The incident starts in {args.incident_after:.0f} s. Ctrl-C stops everything.\n",
                flush=True,
            )
            try:
                _watch(children, provider, otlp, args)
            finally:  # the apps stop (and flush) while their provider still answers
                for tenant in TENANTS:
                    children.stop(f"app-{tenant}")
    except (KeyboardInterrupt, Shutdown) as why:
        print(f"\n[demo] shutting down ({why or 'Ctrl-C'})", flush=True)
    finally:
        children.stop_all()
    print("[demo] stopped", flush=True)


def _watch(children: Children, provider: FakeOpenAI, otlp: str, args: argparse.Namespace) -> None:
    """Run until told to stop (or ``--run-for`` elapses); the incident fires on schedule."""
    started = time.monotonic()
    fired = False
    while args.run_for is None or time.monotonic() - started < args.run_for:
        if not fired and time.monotonic() - started >= args.incident_after:
            incident(children, provider, otlp)
            fired = True
        dead = children.dead()
        if dead:
            raise SystemExit(f"[demo] stopped unexpectedly: {', '.join(dead)}")
        time.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> None:
    parent = os.getppid()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ports", default=os.environ.get(demo_ports.ENV) or demo_ports.DEFAULT,
        help=f"GRPC,HTTP,DASHBOARD ports (default {demo_ports.DEFAULT}, or ${demo_ports.ENV})",
    )  # fmt: skip
    parser.add_argument(
        "--dashboard-host", default=os.environ.get("DEMO_HOST", "127.0.0.1"),
        help="address the dashboard listens on (default 127.0.0.1, or $DEMO_HOST)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", default=".glassline", help="where the SQLite file and config go"
    )
    parser.add_argument("--keep", action="store_true", help="keep the previous run's store")
    parser.add_argument(
        "--incident-after", type=float, default=180.0, help="seconds before the incident (180)"
    )
    parser.add_argument("--run-for", type=float, help="stop after this many seconds (tests)")
    args = parser.parse_args(argv)
    ports = demo_ports.check(args.ports)  # before anything starts
    _die_with_parent()  # `make` killed by SIGHUP does not pass it on: its death does
    if os.getppid() != parent:  # it died before the line above could take effect
        raise SystemExit("[demo] the parent process is gone")
    with _signals_stop(), _terminal_foreground():
        run(args, ports)


if __name__ == "__main__":
    main()
