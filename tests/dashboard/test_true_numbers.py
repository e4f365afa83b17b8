"""Every tile and table of the dashboard equals the same figure computed from the raw spans.

The store is seeded by the real SDK (retries, fallbacks, cache hits, dated model snapshots),
so each figure has one definition: requests are root spans, failed requests are roots that
failed, traces with errors have any failed span, a fallback or a retry loop counts once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from glassline.collector.records import SpanRecord
from glassline.collector.storage.aggregates import canonical_model
from glassline.collector.storage.sketch import new_sketch
from glassline.dashboard import formats
from glassline.dashboard import queries as q
from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window
from glassline.semconv import attributes as attrs

from .sdk_traffic import seed_sdk_store
from .test_app import _metrics, _open, _text


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[SpanRecord]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('sdk')) / 'glassline.db'}"
    return url, seed_sdk_store(url)


@pytest.fixture
def spans(seeded: tuple[str, list[SpanRecord]]) -> list[SpanRecord]:
    return seeded[1]


@pytest.fixture
def conn(seeded: tuple[str, list[SpanRecord]]) -> Iterator[Connection]:
    engine = make_engine(seeded[0])
    with engine.connect() as connection:
        yield connection
    engine.dispose()


@pytest.fixture
def window(spans: list[SpanRecord]) -> Window:
    start = min(s.start_ns for s in spans) // 10**9 // 60 * 60
    end = (max(s.start_ns for s in spans) // 10**9 // 60 + 1) * 60
    return Window(start=start, end=end, bucket=60)


def _traces(spans: list[SpanRecord]) -> dict[str, list[SpanRecord]]:
    out: dict[str, list[SpanRecord]] = {}
    for s in spans:
        out.setdefault(s.trace_id, []).append(s)
    return out


def test_the_traffic_has_what_the_figures_are_about(spans: list[SpanRecord]) -> None:
    assert any(attrs.ROUTE_FALLBACK_FROM in s.attributes for s in spans)
    assert any(s.kind == "retry_attempt" for s in spans)
    assert any(s.is_error and not s.is_root for s in spans)  # failed spans in ok requests
    assert {s.model for s in spans if s.model} >= {"gpt-4o-2024-08-06", "gpt-4o-mini"}


def test_headline_tiles_equal_the_raw_spans(conn, window, spans: list[SpanRecord]) -> None:
    t = q.totals(conn, window)
    roots = [s for s in spans if s.is_root]
    assert t.requests == len(roots)
    assert t.request_errors == sum(s.is_error for s in roots)
    assert t.cost_usd == pytest.approx(sum(s.cost_usd or 0 for s in spans))
    assert t.input_tokens == sum(s.input_tokens for s in spans)
    assert t.output_tokens == sum(s.output_tokens for s in spans)
    assert t.cache_read_tokens == sum(s.cache_read_tokens for s in spans)
    assert t.cache_hits == sum(s.cache_hit is True for s in spans)
    assert t.cache_lookups == sum(s.cache_hit is not None for s in spans)
    # A fallback once per request that fell back (not per span under the fallback route).
    fell_back = {s.trace_id for s in spans if attrs.ROUTE_FALLBACK_FROM in s.attributes}
    assert t.fallbacks == len(fell_back)
    # Retries: attempts beyond the first of every retry loop.
    attempts = [s for s in spans if s.kind == "retry_attempt"]
    loops = {(s.trace_id, s.parent_span_id) for s in attempts}
    assert t.retries == len(attempts) - len(loops) > 0
    exact = new_sketch()
    for s in roots:
        exact.add(s.duration_ms)
    for quantile in (0.5, 0.95, 0.99):
        assert t.latency_ms[quantile] == pytest.approx(exact.get_quantile_value(quantile))


def test_traces_with_errors_count_any_failed_span(conn, window, spans) -> None:
    with_errors = {tid for tid, ss in _traces(spans).items() if any(s.is_error for s in ss)}
    failed = {s.trace_id for s in spans if s.is_root and s.is_error}
    assert q.error_traces(conn, window) == len(with_errors) > len(failed)
    page = q.list_traces(conn, window, q.TraceFilter(status="error"), page_size=500)
    assert set(page.rows["trace_id"]) == with_errors
    page = q.list_traces(conn, window, q.TraceFilter(outcome="error"), page_size=500)
    assert set(page.rows["trace_id"]) == failed


def test_models_group_by_canonical_name_and_keep_the_snapshot(conn, window, spans) -> None:
    cube = q.cube(conn, window)
    by_model = q.group(cube, "model").set_index("model")
    by_snapshot = q.group(cube, "snapshot").set_index("snapshot")
    llm = [s for s in spans if s.model]
    for name in {canonical_model(s.model or "") for s in llm}:
        mine = [s for s in llm if canonical_model(s.model or "") == name]
        assert by_model.loc[name, "count"] == len(mine)
        assert by_model.loc[name, "cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in mine))
    assert "gpt-4o-2024-08-06" not in by_model.index
    assert by_snapshot.loc["gpt-4o-2024-08-06", "count"] == sum(
        s.model == "gpt-4o-2024-08-06" for s in llm
    )


def test_filtering_by_a_model_finds_every_snapshot(conn, window, spans) -> None:
    wanted = {s.trace_id for s in spans if s.model and canonical_model(s.model) == "gpt-4o"}
    page = q.list_traces(conn, window, q.TraceFilter(model="gpt-4o"), page_size=500)
    assert set(page.rows["trace_id"]) == wanted != set()


@pytest.mark.parametrize("by", ["tenant", "stage", "route", "kind"])
def test_every_breakdown_table_equals_the_raw_sums(conn, window, spans, by: str) -> None:
    table = q.breakdown(conn, window, by).set_index(by)
    want: dict[str, list[SpanRecord]] = {}
    for s in spans:
        want.setdefault(getattr(s, by) or "", []).append(s)
    assert set(table.index) == set(want)
    for value, mine in want.items():
        assert table.loc[value, "count"] == len(mine)
        assert table.loc[value, "errors"] == sum(s.is_error for s in mine)
        assert table.loc[value, "cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in mine))


def test_user_spend_equals_the_raw_spans(conn, window, spans) -> None:
    users = q.user_spend(conn, window, limit=100).set_index("user_id")
    roots = {s.trace_id: s.user_id for s in spans if s.is_root}
    for user in set(roots.values()):
        mine = [s for s in spans if (s.user_id or roots.get(s.trace_id)) == user]
        assert users.loc[user, "requests"] == sum(s.is_root for s in mine)
        assert users.loc[user, "cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in mine))


@pytest.mark.parametrize("metric", ["spend", "requests", "error_rate", "tokens_per_request"])
@pytest.mark.parametrize("by", ["tenant", "model", "stage", "user"])
def test_what_changed_parts_add_up_to_the_change(conn, window, spans, metric: str, by: str) -> None:
    # Split where globex's traffic starts (the seed sends acme's first), at the rollups' minute.
    split = min(s.start_ns for s in spans if s.tenant == "globex") // 10**9 // 60 * 60
    before, after = replace(window, end=split), replace(window, start=split)
    changes = q.what_changed(conn, before, after, metric, by)
    rows = changes.rows
    assert (rows["volume_or_mix"] + rows["rate"]).to_numpy() == pytest.approx(
        rows["change"].to_numpy()
    )
    if changes.before is not None and changes.after is not None:
        assert rows["change"].sum() == pytest.approx(changes.after - changes.before, abs=1e-12)
    if metric == "spend" and by == "tenant":
        table = rows.set_index("value")
        for tenant in ("acme", "globex"):
            mine = [s for s in spans if s.tenant == tenant]
            late = sum(s.cost_usd or 0 for s in mine if s.start_ns // 10**9 >= split)
            early = sum(s.cost_usd or 0 for s in mine) - late
            assert table.loc[tenant, "before"] == pytest.approx(early, abs=1e-12)
            assert table.loc[tenant, "after"] == pytest.approx(late, abs=1e-12)


def test_spend_tables_show_fallbacks_and_retries_only_where_they_add_up(
    seeded, window, spans, monkeypatch
) -> None:
    # The SDK counts a fallback on the span where the route was decided and retries on the
    # span around the attempts: neither calls a model, so per model both read 0 (`make demo`:
    # "Fallbacks" 275 above a model table of zeros).
    fell_back = [s for s in spans if s.fallback]
    assert fell_back and not any(s.model for s in fell_back)
    at = _open(seeded[0], monkeypatch, "spend", end=str(window.end), range="1h")
    assert _metrics(at)["Fallbacks"] == f"{len(fell_back):,}"
    tables = {
        by: next(d.value for d in at.dataframe if by in d.value.columns)
        for by in ("model", "tenant", "stage", "route")
    }
    assert {"fallbacks", "retries"}.isdisjoint(tables["model"].columns)
    retries = sum(s.retries for s in spans)
    for by in ("tenant", "stage", "route"):
        assert tables[by]["fallbacks"].sum() == len(fell_back)
        assert tables[by]["retries"].sum() == retries > 0


def _quantile(spans: list[SpanRecord], quantile: float) -> float:
    """The rollups' sketch of the spans' durations at ``quantile`` (ms)."""
    exact = new_sketch()
    for s in spans:
        exact.add(s.duration_ms)
    return float(exact.get_quantile_value(quantile))


def test_overview_latency_is_the_model_calls_beside_the_cache_hit_share(
    seeded, window, spans, monkeypatch
) -> None:
    # Requests answered from the semantic cache take a fraction of a millisecond, and were
    # the request p50: `make demo`'s Overview read "Latency p50 0.25 ms".
    calls = [s for s in spans if s.kind == "llm"]
    roots = [s for s in spans if s.is_root]
    lookups = [s.cache_hit for s in spans if s.cache_hit is not None]
    assert 0 < sum(lookups) < len(lookups)
    assert _quantile(roots, 0.5) < _quantile(calls, 0.5) / 2
    at = _open(seeded[0], monkeypatch, end=str(window.end), range="1h")
    metrics = _metrics(at)
    for quantile in (0.5, 0.95, 0.99):
        label = f"LLM call p{round(quantile * 100)}"
        assert metrics[label] == formats.fmt_ms(_quantile(calls, quantile))
    assert metrics["Cache hit rate"] == formats.fmt_pct(sum(lookups) / len(lookups))
    # End to end, cached requests included, still reads: in words, saying what it is.
    end_to_end = (
        f"p50 {formats.fmt_ms(_quantile(roots, 0.5))}, p95 {formats.fmt_ms(_quantile(roots, 0.95))}"
    )
    assert f"including those answered from a cache: {end_to_end}" in _text(at)


@pytest.mark.parametrize(("by", "kind"), [("stage", "stage"), ("model", "llm"),
                                          ("tenant", "workflow")])  # fmt: skip
def test_what_changed_p95_reads_before_and_after_over_the_rows_spans(
    conn, window, spans, by: str, kind: str
) -> None:
    # make demo, "which stage got slower": the tiles read n/a before and n/a after.
    changes = q.what_changed(conn, window.previous(), window, "p95", by)
    durations = sorted((s.end_ns - s.start_ns) / 1e6 for s in spans if s.kind == kind)
    assert changes.after == pytest.approx(durations[int(0.95 * (len(durations) - 1))], rel=0.02)
    assert changes.before is None  # nothing ran before the seeded traffic
