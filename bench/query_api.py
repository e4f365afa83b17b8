"""Query API latency on a filled store, SQLite and PostgreSQL: list, fetch one, stats.

    .venv/bin/python -m bench.query_api                      # fill 1M spans where empty, then time
    .venv/bin/python -m bench.query_api --spans 100000       # smaller fill
    .venv/bin/python -m bench.query_api --reuse              # time what is already there
    .venv/bin/python -m bench.query_api --backends sqlite --quick

Each store is filled by ``bench.fill_store`` (30 days of traffic through ``Store.write``)
unless it already holds spans. The requests go through the real routes (Starlette
``TestClient``, in-process, JSON encoding included) as tenant ``acme``, which holds ~60% of
the traffic. Printed per request: median and p95 milliseconds over ``--repeat`` runs.
Targets at 1,000,000 spans: list and fetch < 20 ms, stats < 100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.testclient import TestClient

from bench.fill_store import fill, schema_url
from glassline.collector.storage import Store
from glassline.collector.storage.api import routes
from glassline.collector.storage.models import Span, Trace

DEFAULT_URLS = {
    "sqlite": ("sqlite:///.glassline/bench.db", None),
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "glassline_bench"),
}
DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class _Principal:
    tenant: str
    is_admin: bool = False


class _AsTenant(BaseHTTPMiddleware):
    async def dispatch(self, request: Any, call_next: Any) -> Any:
        request.state.principal = _Principal("acme")
        return await call_next(request)


def _time(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    call()  # warm caches and compiled statements, as a running server would have
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def measure(store: Store, repeat: int) -> list[tuple[str, float, float]]:
    client = TestClient(Starlette(routes=routes(store), middleware=[Middleware(_AsTenant)]))
    with store.session() as s:
        newest = s.scalar(select(func.max(Trace.start_ns)).where(Trace.tenant == "acme")) or 0
        ids = s.scalars(select(Trace.trace_id).where(Trace.tenant == "acme").limit(5000)).all()
    rng = random.Random(3)
    day = {"start": newest - DAY_NS, "end": newest}
    month = {"start": newest - 30 * DAY_NS, "end": newest}
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("list latest 50 traces", lambda: client.get("/api/v1/traces", params={"limit": 50})),
        (
            "list 50, filtered by user",
            lambda: client.get("/api/v1/traces", params={"limit": 50, "user": "user-3"}),
        ),
        ("fetch one trace (random)", lambda: client.get(f"/api/v1/traces/{rng.choice(ids)}")),
        (
            "stats by stage, last 24 h",
            lambda: client.get("/api/v1/stats", params={"group_by": "stage", **day}),
        ),
        (
            "stats by model, last 30 d",
            lambda: client.get("/api/v1/stats", params={"group_by": "model", **month}),
        ),
        (
            "stats by hour, last 24 h",
            lambda: client.get("/api/v1/stats", params={"group_by": "hour", **day}),
        ),
        (
            "stats by user, last 24 h",
            lambda: client.get("/api/v1/stats", params={"group_by": "user", **day}),
        ),
    ]
    return [(name, *_time(call, repeat)) for name, call in cases]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--sqlite-url", default=DEFAULT_URLS["sqlite"][0])
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgresql"][0])
    parser.add_argument("--schema", default="glassline_bench", help="PostgreSQL schema")
    parser.add_argument("--spans", type=int, default=1_000_000, help="fill size if empty")
    parser.add_argument("--reuse", action="store_true", help="never fill, time what is there")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="20,000 spans, 10 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.spans, args.repeat = 20_000, 10
    for backend in args.backends.split(","):
        url = args.sqlite_url if backend == "sqlite" else schema_url(args.postgres_url, args.schema)
        store = Store.open(url)
        with store.session() as s:
            stored = s.scalar(select(func.count()).select_from(Span)) or 0
        if not stored and not args.reuse:
            print(f"[{backend}] filling {args.spans:,} spans ...", flush=True)
            result = fill(url, args.spans, 30)
            print(f"[{backend}] Store.write {result['write_spans_per_s']:,.0f} spans/s", flush=True)
            with store.session() as s:
                stored = s.scalar(select(func.count()).select_from(Span)) or 0
        print(f"\n[{backend}] {stored:,} spans stored; ms over {args.repeat} runs")
        print(f"  {'request':<28} {'median':>8} {'p95':>8}")
        for name, median, p95 in measure(store, args.repeat):
            print(f"  {name:<28} {median:>8.1f} {p95:>8.1f}")
        store.close()


if __name__ == "__main__":
    sys.exit(main())
