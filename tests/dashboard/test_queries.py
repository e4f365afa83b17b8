"""The dashboard's queries return the seeded figures, from the rollups, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from glassline.collector.storage import sketch
from glassline.dashboard import queries as q
from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window

from .seed import Traffic


def test_totals_equal_the_sums_of_the_seeded_spans(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        t = q.totals(conn, hour)
    assert t.cost_usd == pytest.approx(traffic.cost())
    assert t.requests == len(traffic.roots())
    assert t.request_errors == sum(r.is_error for r in traffic.roots())
    assert t.input_tokens == sum(r.input_tokens for r in traffic.records)
    assert t.cache_hit_rate == pytest.approx(
        sum(bool(r.cache_hit) for r in traffic.records)
        / sum(r.cache_hit is not None for r in traffic.records)
    )


def test_end_to_end_percentiles_match_a_sketch_of_the_root_durations(
    sqlite_engine, hour: Window, traffic: Traffic
):
    reference = sketch.new_sketch()
    for root in traffic.roots():
        reference.add(root.duration_ms)
    with sqlite_engine.connect() as conn:
        got = q.totals(conn, hour).latency_ms
    assert got == pytest.approx(sketch.quantiles(reference))


def test_tenant_filter_shows_only_that_tenants_spend(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        acme = q.totals(conn, hour.with_tenant("acme"))
        tenants = q.tenants(conn, hour)
    assert tenants == ["acme", "globex"]
    assert acme.cost_usd == pytest.approx(traffic.cost("acme"))
    assert acme.cost_usd < traffic.cost()


def test_previous_window_of_fresh_traffic_is_empty(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn:
        before = q.totals(conn, hour.previous())
    assert before.requests == 0 and before.cost_usd == 0
    assert before.latency_ms == {0.5: None, 0.95: None, 0.99: None}


def test_spend_breakdown_by_model_sums_to_the_total(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        by_model = q.breakdown(conn, hour, "model")
    expected = {}
    for r in traffic.records:
        expected[r.model or ""] = expected.get(r.model or "", 0) + (r.cost_usd or 0)
    got = dict(zip(by_model["model"], by_model["cost_usd"], strict=True))
    assert got == pytest.approx(expected)
    assert by_model["model"].iloc[0] == max(expected, key=expected.get)


def test_breakdown_refuses_an_unknown_dimension(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn, pytest.raises(ValueError, match="cannot group"):
        q.breakdown(conn, hour, "user_id; DROP TABLE spans")


def test_stage_percentiles_over_time_cover_every_stage(
    sqlite_engine, hour: Window, traffic: Traffic
):
    with sqlite_engine.connect() as conn:
        frame = q.percentiles(conn, hour, "stage", kinds=["stage"], over_time=True)
    stages = {r.stage for r in traffic.records if r.kind == "stage"}
    assert set(frame["stage"]) == stages
    assert frame["count"].sum() == sum(r.kind == "stage" for r in traffic.records)
    assert (frame["p50"] <= frame["p99"]).all()


def test_ttft_percentiles_by_model_come_from_the_ttft_sketches(
    sqlite_engine, hour: Window, traffic: Traffic
):
    with sqlite_engine.connect() as conn:
        frame = q.percentiles(conn, hour, "model", ["llm"], over_time=False, sketch="ttft_sketch")
    ttfts = [r.ttft_ms for r in traffic.records if r.model == "gpt-4o" and r.ttft_ms]
    row = frame.set_index("model").loc["gpt-4o"]
    assert row["count"] == len(ttfts)
    assert min(ttfts) * 0.98 <= row["p50"] <= max(ttfts) * 1.02


def test_user_spend_ranks_users_by_cost(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        users = q.user_spend(conn, hour)
    assert list(users["cost_usd"]) == sorted(users["cost_usd"], reverse=True)
    assert users["cost_usd"].sum() == pytest.approx(traffic.cost())


def test_cache_savings_price_cached_tokens_at_the_full_rate(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn:
        frame = q.cache_savings(conn, hour).set_index("model")
    cached = frame.loc["gpt-4o", "cache_read_tokens"]
    # gpt-4o: $2.50 per million input tokens, $1.25 per million cached: half is saved.
    assert frame.loc["gpt-4o", "saved_usd"] == pytest.approx(cached * 1.25e-6)
    assert q.cached_token_savings_usd("no-such-model-anywhere", 1000) is None


def test_trace_list_filters_by_status_and_pages(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        errors = q.list_traces(conn, hour, q.TraceFilter(status="error"))
        first = q.list_traces(conn, hour, page_size=10)
        last = q.list_traces(conn, hour, page=2, page_size=10)
    assert list(errors.rows["trace_id"]) == [traffic.error_trace_id]
    assert first.has_next and not last.has_next
    assert len(first.rows) == 10 and len(last.rows) == len(traffic.roots()) - 20
    assert first.rows["start_ns"].is_monotonic_decreasing


def test_trace_list_filters_by_model_and_span_name(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        mini = q.list_traces(conn, hour, q.TraceFilter(model="gpt-4o-mini"))
        named = q.list_traces(conn, hour, q.TraceFilter(name_contains="retrieve_doc"))
        literal = q.list_traces(conn, hour, q.TraceFilter(name_contains="retrieve%doc"))
    assert set(mini.rows["tenant"]) == {"globex"}
    assert len(mini.rows) == len(traffic.roots("globex"))
    assert len(named.rows) == len(traffic.roots())
    assert literal.rows.empty  # % is matched literally, not as a wildcard


def test_trace_list_sorts_by_cost(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn:
        rows = q.list_traces(conn, hour, sort="costliest").rows
    assert rows["cost_usd"].is_monotonic_decreasing


def test_get_trace_finds_the_tenant_when_the_url_has_none(sqlite_engine, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        detail = q.get_trace(conn, traffic.error_trace_id, None, ["acme", "globex"])
        missing = q.get_trace(conn, "0" * 32, "acme")
    assert missing is None
    assert detail is not None and detail.summary["status"] == "error"
    expected = [r for r in traffic.records if r.trace_id == traffic.error_trace_id]
    assert {s["span_id"] for s in detail.spans} == {r.span_id for r in expected}
    llm = next(s for s in detail.spans if s["kind"] == "llm")
    assert llm["events"][0]["name"] == "exception"


def test_ops_tables_are_absent_without_alerts_or_sampling(sqlite_engine):
    with sqlite_engine.connect() as conn:
        tables = q.find_tables(conn)
        firing = q.firing_alerts(conn, tables, None)
    assert not tables.has_alerts and tables.sampling == ()
    assert firing.empty


def test_the_dashboard_cannot_write_to_sqlite(sqlite_url: str):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn, pytest.raises(OperationalError, match="readonly"):
        conn.execute(text("DELETE FROM spans"))
    engine.dispose()


@pytest.mark.postgres
def test_postgres_totals_and_trace_list_match_sqlite(pg_url: str, hour: Window, traffic: Traffic):
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        t = q.totals(conn, hour)
        page = q.list_traces(conn, hour, q.TraceFilter(name_contains="RETRIEVE"))
        detail = q.get_trace(conn, traffic.chat_trace_id, None, q.tenants(conn, hour))
        series = q.percentiles(conn, hour, "model", ["llm"], over_time=True)
    engine.dispose()
    assert t.cost_usd == pytest.approx(traffic.cost())
    assert t.requests == len(traffic.roots())
    assert len(page.rows) == len(traffic.roots())
    assert detail is not None and len(detail.spans) == 4
    assert not math.isnan(series["p95"].max())


@pytest.mark.postgres
def test_the_dashboard_cannot_write_to_postgres(pg_url: str):
    engine = make_engine(pg_url)
    with engine.connect() as conn, pytest.raises(Exception, match="read-only"):
        conn.execute(text("DELETE FROM spans"))
    engine.dispose()
