"""Real peer libraries, each in its own venv, driving the real openai/anthropic clients against
the fake provider and exporting with their own exporters to the real collector; what is stored
is checked (tokens, cost, content, tree, kinds, stages, rollups). Results feed the README's
compatibility table (``python -m tests.peers.table``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from glassline.collector.storage.models import Rollup, Span
from glassline.collector.testing import RunningCollector

from .checks import CHECKS
from .egress import EgressRecorder
from .runs import RUNS, Run
from .venvs import PeerSetupError

APPS = Path(__file__).resolve().parent / "apps"
RUN_TIMEOUT_S = 180


def stored(
    collector: RunningCollector, tenant: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    engine = create_engine(collector.db_url)
    try:
        with engine.connect() as conn:
            spans = [
                dict(r._mapping)
                for r in conn.execute(select(Span.__table__).where(Span.tenant == tenant))
            ]
            rollups = [
                dict(r._mapping)
                for r in conn.execute(select(Rollup.__table__).where(Rollup.tenant == tenant))
            ]
    finally:
        engine.dispose()
    return spans, rollups


def run_app(
    run: Run, python: Path, collector: RunningCollector, fake_url: str, egress: EgressRecorder
) -> subprocess.CompletedProcess[str]:
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "PYTHON", "VIRTUAL_ENV"))
        },
        **egress.env(),
        # Exporters give up after 10 s by default; a busy CI host must not lose a run's spans.
        "OTEL_EXPORTER_OTLP_TIMEOUT": "60",
        "PEER_FAKE_URL": fake_url,
        "PEER_HTTP": collector.http_endpoint,
        "PEER_GRPC": collector.grpc_endpoint,
        "PEER_KEY": collector.api_keys[run.name],
        **run.env,
    }
    done = subprocess.run(
        [str(python), str(APPS / f"peer_{run.app}.py"), *run.args],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=APPS,
    )  # fmt: skip
    return done


# The first run also makes every library's venv (a cold install from PyPI) and starts the
# collector: more than the suite's default per-test timeout allows on a slow network.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("run", RUNS, ids=[r.name for r in RUNS])
def test_peer_library(
    run: Run,
    peer_pythons: dict[str, Path | PeerSetupError],
    peer_collector: RunningCollector,
    fake_provider: Any,
    egress: EgressRecorder,
    peer_results: dict[str, Any],
) -> None:
    python = peer_pythons[run.venv]
    if isinstance(python, PeerSetupError):
        raise python
    before = len(egress.hosts)
    done = run_app(run, python, peer_collector, fake_provider.base_url, egress)
    if done.returncode != 0:
        peer_results[run.name] = {"title": run.title, "library": run.venv, "version": "?",
                                  "transport": "?", "checks": {"runs": {"result": "fail",
                                  "detail": done.stderr[-300:]}}}  # fmt: skip
        raise AssertionError(
            f"{run.name} app failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    info = json.loads(done.stdout.strip().splitlines()[-1])
    outbound = set(egress.hosts[before:])
    spans, rollups = stored(peer_collector, run.name)
    outcome: dict[str, Any] = {}
    for name, check in CHECKS.items():
        if name in run.not_sent:
            outcome[name] = {"result": "not sent", "detail": run.not_sent[name]}
            continue
        if name == "stage" and run.stage is None:
            outcome[name] = {"result": "n/a", "detail": "the app names no stage"}
            continue
        try:
            passed, detail = check(run, spans, rollups)
        except Exception as exc:  # a check that cannot even read the rows has failed
            passed, detail = False, f"{type(exc).__name__}: {exc}"
        if not passed and name in run.library_bugs:
            outcome[name] = {"result": "library", "detail": run.library_bugs[name]}
            continue
        outcome[name] = {"result": "pass" if passed else "fail", "detail": detail}
    unexpected = outbound - run.allowed_egress
    outcome["offline"] = {
        "result": "fail" if unexpected else "pass",
        "detail": f"outbound attempts refused: {sorted(outbound) or 'none'}",
    }
    peer_results[run.name] = {
        "title": run.title,
        "library": info["library"],
        "version": info["version"],
        "transport": info["transport"],
        "checks": outcome,
    }
    failed = {k: v["detail"] for k, v in outcome.items() if v["result"] == "fail"}
    assert not failed, json.dumps(failed, indent=1)
