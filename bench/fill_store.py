"""Fill a store with realistic LLM traffic through ``Store.write`` (so the rollups are real).

    .venv/bin/python -m bench.fill_store --url sqlite:///.glassline/bench.db          # 1M spans
    .venv/bin/python -m bench.fill_store --url sqlite:///.glassline/bench.db --spans 50000
    .venv/bin/python -m bench.fill_store --url postgresql+psycopg://postgres@127.0.0.1/test \\
        --schema glassline_bench --spans 200000

About 11 spans per trace (workflow -> retrieve -> rerank -> generate -> guardrail, with
tools, cache hits, retries, fallbacks and errors), 3 tenants, ~600 users, 5 models, spread
over ``--days`` (30) ending now, written oldest first in 512-span batches. Prints progress
and the write throughput (spans/s stored, including trace summaries and rollups).
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench._traffic import TraceMaker, trace_starts
from glassline.collector.records import SpanRecord
from glassline.collector.storage import StorageConfig, Store


def schema_url(url: str, schema: str | None) -> str:
    """``url`` with its connections in PostgreSQL ``schema`` (created if missing)."""
    if not schema:
        return url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def fill(
    url: str, spans: int, days: float, batch_size: int = 512, seed: int = 7
) -> dict[str, float]:
    """Write ``spans`` spans into the store at ``url``; returns what was written and how fast."""
    # Retention must cover the whole fill, or purge would delete what we just wrote.
    store = Store.open(StorageConfig(url=url, retention_days=max(7, days + 1)))
    maker = TraceMaker(seed)
    starts = trace_starts(spans // 9, days, time.time_ns(), seed=seed)
    written = traces = 0
    pending: list[SpanRecord] = []
    began = last = time.perf_counter()
    write_s = 0.0
    for start in starts:
        if written + len(pending) >= spans:
            break
        pending += maker.trace(start)
        traces += 1
        while len(pending) >= batch_size or (pending and written + len(pending) >= spans):
            batch, pending = pending[:batch_size], pending[batch_size:]
            t = time.perf_counter()
            written += store.write(batch).inserted
            write_s += time.perf_counter() - t
            if time.perf_counter() - last > 5:
                last = time.perf_counter()
                print(f"  {written:>9,} spans  {written / write_s:>7,.0f} spans/s", flush=True)
    store.close()
    return {
        "spans": written,
        "traces": traces,
        "seconds": time.perf_counter() - began,
        "write_spans_per_s": written / write_s if write_s else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", default="sqlite:///.glassline/bench.db", help="store URL")
    parser.add_argument("--schema", help="PostgreSQL schema to fill (created if missing)")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to write")
    parser.add_argument("--days", type=float, default=30, help="days of traffic, ending now")
    parser.add_argument("--batch", type=int, default=512, help="spans per Store.write")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    url = schema_url(args.url, args.schema)
    print(f"filling {make_url(url).render_as_string()} with {args.spans:,} spans", flush=True)
    result = fill(url, args.spans, args.days, args.batch, args.seed)
    print(
        f"done: {result['spans']:,.0f} spans, {result['traces']:,.0f} traces in "
        f"{result['seconds']:.1f} s; Store.write {result['write_spans_per_s']:,.0f} spans/s "
        f"(batches of {args.batch})"
    )


if __name__ == "__main__":
    sys.exit(main())
