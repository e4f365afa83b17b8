"""Time every dashboard page's queries on SQLite and PostgreSQL stores of realistic traffic.

    .venv/bin/python -m bench.dashboard_queries                      # 1M spans, both databases
    .venv/bin/python -m bench.dashboard_queries --spans 100000 --skip-postgres   # quick
    .venv/bin/python -m bench.dashboard_queries --cpu \
        --baseline-sqlite-url sqlite:///.glassline/bench_noversions.db   # CPU ms, and ratios

Stores are filled by ``bench.fill_store`` (through ``Store.write``, so rollups are real) and
reused on later runs when they already hold at least ``--spans`` spans. Each page's queries
run exactly as the page issues them on a cache miss (the app caches results for 15 s), for
the 24 h, 7 d and 30 d ranges; the drilldown fetches recent traces by id, with and without
the tenant in the URL. Prints the median of ``--repeat`` runs per page and range against the
targets: every page under 1 s, a search under 500 ms, a trace drilldown under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from bench.fill_store import fill, schema_url
from glassline.collector.storage.models import Rollup, Span, Trace
from glassline.dashboard import queries as q
from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window, calendar_starts, window_from_params

PAGE_TARGET_MS, SEARCH_TARGET_MS, TRACE_TARGET_MS = 1000.0, 500.0, 300.0
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def overview(conn: Connection, w: Window) -> None:
    for window in (w, w.previous()):
        q.totals_from(q.cube(conn, window))
        q.request_latency(conn, window)
    day, month = calendar_starts(w.end)
    q.spend_between(conn, day, w.end, w.tenant)
    q.spend_between(conn, month, w.end, w.tenant)
    q.alert_states(conn, w.tenant, only_firing=True)
    q.sum_series(conn, w, kinds=[q.REQUEST_KIND])
    q.versions(conn, w)  # the sidebar's version filters, on every page
    q.change_markers(conn, w)  # drawn on every time chart


def latency(conn: Connection, w: Window) -> None:
    q.percentile_views(conn, w, "stage", ["stage"])
    q.percentile_views(conn, w, "model", ["llm"], ("latency_sketch", "ttft_sketch"))
    q.percentiles(conn, w.previous(), "stage", ["stage"], False)
    q.sum_series(conn, w, "stage", ["stage"])
    q.sum_series(conn, w, kinds=[q.REQUEST_KIND])
    q.versions(conn, w)
    q.change_markers(conn, w)


def spend(conn: Connection, w: Window) -> None:
    cube = q.cube(conn, w)
    q.totals_from(cube)
    q.cache_savings(q.group(cube, "model"))
    q.user_spend(conn, w)
    q.sum_series(conn, replace(w, bucket=86400))
    q.sum_series(conn, w)
    q.sum_series(conn, w, kinds=[q.REQUEST_KIND])
    q.versions(conn, w)
    q.change_markers(conn, w)


def what_changed(conn: Connection, w: Window) -> None:
    # The page's first view: spend by tenant over the two halves, and its change markers.
    half = replace(w, start=w.start + w.length // 2)
    q.data_start(conn, w)
    q.change_markers(conn, w)
    q.what_changed(conn, replace(w, end=half.start), half, "spend", "tenant")
    q.what_changed(conn, w.previous(), w, "p95", "stage")
    q.what_changed(conn, replace(w, end=half.start), half, "spend", "service_version")
    q.versions(conn, w)


def by_version(conn: Connection, w: Window) -> None:
    # The same pages filtered to one service version (the sidebar's filter).
    version = next(iter(q.versions(conn, w)["service_version"]), None)
    overview(conn, replace(w, service_version=version))


def traces(conn: Connection, w: Window) -> None:
    q.list_traces(conn, w)


def traces_filtered(conn: Connection, w: Window) -> None:
    q.list_traces(conn, w, q.TraceFilter(status="error"), sort="slowest")
    q.list_traces(conn, w, q.TraceFilter(name_contains="rerank", min_cost_usd=0.001))


def search_common(conn: Connection, w: Window) -> None:
    q.list_traces(conn, w, q.TraceFilter(text="refund"))  # in every chat call's prompt


def search_phrase(conn: Connection, w: Window) -> None:
    q.list_traces(conn, w, q.TraceFilter(text='"warranty claim for headphones"'))


def search_no_match(conn: Connection, w: Window) -> None:
    q.list_traces(conn, w, q.TraceFilter(text="zyzzyva"))


def search_tenant_sorted(conn: Connection, w: Window) -> None:
    # The smallest tenant (10% of traffic), a prefix and an excluded word, costliest first.
    found = q.TraceFilter(text="firmw* -blender", status="ok")
    q.list_traces(conn, replace(w, tenant="initech"), found, sort="costliest")


def alerts(conn: Connection, w: Window) -> None:
    q.find_tables(conn)
    q.alert_states(conn, w.tenant)
    q.alert_history(conn, w)
    q.sampling_summary(conn, w)


PAGES: dict[str, Callable[[Connection, Window], None]] = {
    "overview": overview,
    "what changed": what_changed,
    "overview, one version": by_version,
    "latency": latency,
    "spend": spend,
    "traces": traces,
    "traces (filtered)": traces_filtered,
    "search: common word": search_common,
    "search: phrase": search_phrase,
    "search: no match": search_no_match,
    "search: tenant+sort": search_tenant_sorted,
    "alerts & sampling": alerts,
}


def _span_count(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Span)).scalar_one())
    except Exception:  # no store yet
        return 0


def ensure_filled(url: str, spans: int) -> int:
    engine = make_engine(url)
    have = _span_count(engine)
    engine.dispose()
    if have >= spans * 0.99:
        print(f"  reusing {have:,} spans already in the store", flush=True)
        return have
    print(f"  filling with {spans:,} spans (bench.fill_store)...", flush=True)
    return int(fill(url, spans, days=30)["spans"])


def data_end(url: str) -> str:
    """End (Unix seconds) of the stored traffic: windows are pinned there, so a store filled
    days ago (or whose fill ended early) is measured on full windows, not empty ones."""
    engine = make_engine(url)
    with engine.connect() as conn:
        last = conn.execute(select(func.max(Rollup.minute))).scalar_one()
    engine.dispose()
    return str(int(last) + 60)


def _median_ms(
    fn: Callable[[], Any], repeat: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    samples = []
    for _ in range(repeat):
        t = clock()
        fn()
        samples.append((clock() - t) * 1000)
    return statistics.median(samples)


def _page_runs(
    conn: Connection, end: str, only: str
) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """(page, range, run) for every page whose name holds ``only``, at 24h, 7d and 30d."""
    for preset in ("24h", "7d", "30d"):
        window, _ = window_from_params({"range": preset, "end": end})
        for page, run in PAGES.items():
            if only in page:
                yield page, preset, partial(run, conn, window)


def bench_cpu(url: str, baseline_url: str | None, repeat: int, only: str = "") -> None:
    """CPU ms per page on SQLite (the queries run in this process, so this survives a loaded
    host), and its ratio to the same pages on a baseline store measured in the same run:
    ``bench.fill_store --no-versions`` writes the same traffic without versions and keys."""
    stores = [("store", url)] + ([("baseline", baseline_url)] if baseline_url else [])
    cpu: dict[tuple[str, str, str], float] = {}
    for label, store_url in stores:
        end = data_end(store_url)
        engine = make_engine(store_url)
        with engine.connect() as conn:
            for page, preset, run in _page_runs(conn, end, only):
                run()  # warm: model-name cache, statement cache
                cpu[(label, page, preset)] = _median_ms(run, repeat, time.process_time)
        engine.dispose()
    print(f"\n{'page (CPU ms)':<22} {'range':<6} {'store':>8} {'baseline':>9} {'ratio':>6}")
    for (label, page, preset), ms in cpu.items():
        if label != "store":
            continue
        base = cpu.get(("baseline", page, preset))
        ratio = f"{ms / base:.2f}x" if base else ""
        shown = f"{base:9.1f}" if base is not None else " " * 9
        print(f"{page:<22} {preset:<6} {ms:8.1f} {shown} {ratio:>6}")


def _recent_traces(conn: Connection, w: Window, n: int = 20) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(Trace.trace_id, Trace.tenant)
        .where(Trace.start_ns >= w.start_ns)
        .order_by(Trace.start_ns.desc())
        .limit(n)
    )
    return [(r.trace_id, r.tenant) for r in rows]


def bench_store(
    label: str, url: str, repeat: int, only: str = ""
) -> list[tuple[str, str, str, float, float]]:
    end = data_end(url)
    engine = make_engine(url)
    results = []
    with engine.connect() as conn:
        for page, preset, run in _page_runs(conn, end, only):
            ms = _median_ms(run, repeat)
            target = SEARCH_TARGET_MS if page.startswith("search") else PAGE_TARGET_MS
            results.append((label, page, preset, ms, target))
        window, _ = window_from_params({"range": "30d", "end": end})
        ids = _recent_traces(conn, window)
        with_tenant = [_median_ms(lambda t=t: q.get_trace(conn, t[0], t[1]), repeat) for t in ids]
        without = [_median_ms(lambda t=t: q.get_trace(conn, t[0], None), repeat) for t in ids]
        results.append(
            (label, "trace drilldown", "by URL", statistics.median(with_tenant), TRACE_TARGET_MS)
        )
        results.append(
            (label, "trace drilldown", "no tenant", statistics.median(without), TRACE_TARGET_MS)
        )
    engine.dispose()
    return results


def bench_render(url: str, repeat: int) -> list[tuple[str, str, str, float, float]]:
    """Whole page runs in Streamlit's AppTest (queries + figures + elements), caches cleared."""
    import os

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import glassline.dashboard.app as app_module
    from glassline.dashboard.env import ENV_DB_URL

    os.environ[ENV_DB_URL] = url
    end = data_end(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        window, _ = window_from_params({"range": "30d", "end": end})
        trace_id, tenant = _recent_traces(conn, window, 1)[0]
    engine.dispose()
    results = []
    for preset in ("24h", "30d"):
        for page in ("overview", "latency", "spend", "traces", "trace", "alerts"):
            at = AppTest.from_file(app_module.__file__, default_timeout=120)
            at.query_params.update(range=preset, end=end, trace=trace_id)
            if page == "trace":
                at.query_params["tenant"] = tenant
            at.run()
            if page != "overview":
                at.switch_page(f"views/{page}.py")

            def cold_run(at: AppTest = at) -> None:
                st.cache_data.clear()  # time a cache miss, as after the 15 s TTL
                at.run()

            ms = _median_ms(cold_run, repeat)
            assert not at.exception, at.exception
            assert not at.info or page == "alerts", f"{page} {preset} rendered an empty state"
            target = TRACE_TARGET_MS if page == "trace" else PAGE_TARGET_MS
            results.append(("sqlite", f"{page} (render)", preset, ms, target))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in each store")
    parser.add_argument("--sqlite-url", default="sqlite:///.glassline/dash_bench.db")
    parser.add_argument("--postgres-url", default=PG_BASE)
    parser.add_argument("--schema", default="dash_bench", help="PostgreSQL schema of the store")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", default="", help="only the pages whose name has this text")
    parser.add_argument(
        "--render", action="store_true", help="also time whole pages in AppTest (SQLite store)"
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="CPU ms per page on the SQLite store only (survives a loaded host)",
    )
    parser.add_argument(
        "--baseline-sqlite-url",
        help="with --cpu: a store of the same traffic without versions (fill_store --no-versions)",
    )
    args = parser.parse_args(argv)
    if args.cpu:
        bench_cpu(args.sqlite_url, args.baseline_sqlite_url, args.repeat, args.only)
        return

    stores = [("sqlite", args.sqlite_url)]
    if not args.skip_postgres:
        stores.append(("postgresql", schema_url(args.postgres_url, args.schema)))
    rows = []
    for label, url in stores:
        print(f"{label}:", flush=True)
        spans = ensure_filled(url, args.spans)
        for row in bench_store(label, url, args.repeat, args.only):
            rows.append(row)
        print(f"  measured on {spans:,} spans", flush=True)
    if args.render:
        rows += bench_render(args.sqlite_url, args.repeat)
    print(f"\n{'database':<11} {'page':<20} {'range':<10} {'median ms':>10} {'target':>8}  ok")
    for label, page, preset, ms, target in rows:
        ok = "yes" if ms < target else "NO"
        print(f"{label:<11} {page:<20} {preset:<10} {ms:>10.1f} {target:>8.0f}  {ok}")
    worst = max(rows, key=lambda r: r[3] / r[4])
    print(
        f"\nworst against its target: {worst[0]} {worst[1]} {worst[2]}: "
        f"{worst[3]:.0f} ms of {worst[4]:.0f} ms ({worst[3] / worst[4]:.0%})"
    )


if __name__ == "__main__":
    main()
