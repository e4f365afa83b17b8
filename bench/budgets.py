"""A per-user budget of many users: what the budgets answer and an alert evaluation cost.

    .venv/bin/python -m bench.budgets                    # 100,000 users, every 200th heavy
    .venv/bin/python -m bench.budgets --users 10000      # quick

Fills an SQLite store through ``Store.write`` (so the user rollups are real): each user makes
one LLM call of $0.0045, and every ``--heavy-every``-th user four of $0.25: the budget's
limit of $1.00, over its warn level of $0.80. Then times, best of ``--repeat``, on the same store in the
same run: the budgets answer with every user (what ``GET /api/v1/budgets`` gives a person),
the answer a guard asks for (``min_share=0.5``: only the users near their budget) and one
evaluation pass of the alert engine, and prints the ratios of the last two to the first.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.alerts.api import budget_status
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

RULES = {
    "rules": [
        {"name": "per-user-daily", "kind": "budget", "window": "24h", "per": "user",
         "warn_usd": 0.8, "limit_usd": 1.0},
    ]
}  # fmt: skip


def _call(user: str, at_ns: int, cost_usd: float) -> SpanRecord:
    return SpanRecord(
        tenant="acme",
        trace_id=secrets.token_hex(16),
        span_id=secrets.token_hex(8),
        name="chat gpt-4o",
        start_ns=at_ns,
        end_ns=at_ns + 500_000_000,
        kind="llm",
        model="gpt-4o",
        user_id=user,
        cost_usd=cost_usd,
    )


def fill(store: Store, users: int, heavy_every: int, now_ns: int) -> int:
    """Write the calls of ``users`` users in the last hour; the number of heavy users."""
    batch: list[SpanRecord] = []
    heavy = 0
    for n in range(users):
        user, at = f"user-{n:07d}", now_ns - (n % 3600) * 1_000_000_000
        if n % heavy_every == 0:
            heavy += 1
            batch += [_call(user, at, 0.25) for _ in range(4)]
        else:
            batch.append(_call(user, at, 0.0045))
        if len(batch) >= 5_000:
            store.write(batch)
            batch = []
    store.write(batch)
    return heavy


def _best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """(the best wall time of ``repeat`` runs in seconds, the last run's result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000, help="users with spend today")
    parser.add_argument("--heavy-every", type=int, default=200, help="every n-th user is heavy")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best)")
    args = parser.parse_args(argv)

    config = parse_config(RULES)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="glassline-budgets-") as work:
        store = Store.open(f"sqlite:///{Path(work) / 'budgets.db'}")
        try:
            print(f"filling a store with {args.users:,} users ...", flush=True)
            heavy = fill(store, args.users, args.heavy_every, int(now.timestamp() * 1e9))
            print(f"{heavy:,} of them at their limit")
            with store.engine.connect() as conn:
                rows: dict[str, tuple[float, Any]] = {
                    "every user (a person's answer)": _best(
                        args.repeat, lambda: budget_status(conn, config, ["acme"], now)
                    ),
                    "min_share=0.5 (a guard's answer)": _best(
                        args.repeat,
                        lambda: budget_status(conn, config, ["acme"], now, min_share=0.5),
                    ),
                }
            engine = AlertEngine(store, config)
            try:
                evaluation = _best(args.repeat, lambda: engine.evaluate_once(now))
            finally:
                engine.close()
        finally:
            store.close()
    baseline = rows["every user (a person's answer)"][0]
    for name, (seconds, items) in rows.items():
        size = len(json.dumps({"budgets": items}).encode()) / 1e6
        print(f"{name:<34}{len(items):>9,} entries {size:>8.2f} MB {seconds:>8.3f} s"
              f"   {seconds / baseline:.3f}x")  # fmt: skip
    seconds, report = evaluation
    print(f"{'alert evaluation pass':<34}{report.observations:>9,} observed {seconds:>12.3f} s"
          f"   {seconds / baseline:.3f}x of reading every user")  # fmt: skip


if __name__ == "__main__":
    main()
