"""`make demo` works: collector, example app traffic for three tenants, dashboard, clean exit."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from glassline.collector.testing import free_port


def test_demo_sends_traffic_serves_the_dashboard_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "examples.demo", "--exit-when-ready", "--requests", "15",
         "--workdir", str(tmp_path), "--dashboard-port", str(port)],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"http://localhost:{port}" in result.stdout

    with sqlite3.connect(tmp_path / "demo.db") as db:
        per_tenant = dict(db.execute("select tenant, count(*) from traces group by tenant"))
        kinds = {k for (k,) in db.execute("select distinct kind from spans")}
        fallbacks = db.execute("select count(*) from spans where fallback").fetchone()[0]
        spend = db.execute("select sum(cost_usd) from rollups").fetchone()[0]
    assert per_tenant == {"acme": 15, "globex": 15, "initech": 15}
    assert {"workflow", "stage", "llm", "tool"} <= kinds
    assert spend > 0
    assert fallbacks >= 0  # present as a column; the share depends on the fake provider's dice
