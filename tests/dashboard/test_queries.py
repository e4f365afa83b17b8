"""The dashboard's queries return the seeded figures, from the rollups, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from sqlalchemy import create_engine, delete, insert, text
from sqlalchemy.exc import OperationalError

from glassline.collector.alerts.models import AlertEvent, AlertState
from glassline.collector.sampling.models import SamplingStat
from glassline.collector.storage import sketch
from glassline.collector.storage.models import Base, HourRollup, Rollup, Span, Trace
from glassline.dashboard import queries as q
from glassline.dashboard.db import make_engine
from glassline.dashboard.window import Window, window_from_params

from .conftest import seed_store
from .seed import NS, Traffic, rag_trace


def test_totals_equal_the_sums_of_the_seeded_spans(sqlite_engine, hour: Window, traffic: Traffic):
    with sqlite_engine.connect() as conn:
        t = q.totals(conn, hour)
    assert t.cost_usd == pytest.approx(traffic.cost())
    assert t.requests == len(traffic.roots())  # every seeded root is a workflow span
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


def test_the_top_users_are_chosen_in_sql_as_the_whole_ranking_would(
    sqlite_engine, hour: Window
) -> None:
    # An app of 100,000 users a day summed every one of them in Python for a top 50.
    with sqlite_engine.connect() as conn:
        every = q.user_spend(conn, hour, limit=10_000)
        top = q.user_spend(conn, hour, limit=3)
    assert len(every) > 3
    pd.testing.assert_frame_equal(top, every.head(3))


def test_cache_savings_price_cached_tokens_at_the_full_rate(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn:
        frame = q.cache_savings(q.breakdown(conn, hour, "model")).set_index("model")
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
        detail = q.get_trace(conn, traffic.error_trace_id, None)
        missing = q.get_trace(conn, "0" * 32, "acme")
    assert missing is None
    assert detail is not None and detail.trace.status == "error"
    expected = [r for r in traffic.records if r.trace_id == traffic.error_trace_id]
    assert {s["span_id"] for s in detail.spans} == {r.span_id for r in expected}
    llm = next(s for s in detail.spans if s["kind"] == "llm")
    assert llm["events"][0]["name"] == "exception"


def test_alert_and_sampling_views_are_empty_on_a_fresh_store(sqlite_engine, hour: Window):
    with sqlite_engine.connect() as conn:
        tables = q.find_tables(conn)
        states = q.alert_states(conn, None)
        sampling = q.sampling_summary(conn, hour)
    assert tables.alerts and tables.sampling  # the migrations created them
    assert states.empty and sampling.empty


def test_a_store_without_alert_or_sampling_tables_reads_as_empty(tmp_path, hour: Window):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    writer = create_engine(url)
    core = [Span.__table__, Trace.__table__, Rollup.__table__, HourRollup.__table__]
    Base.metadata.create_all(writer, tables=core)
    writer.dispose()
    engine = make_engine(url)
    with engine.connect() as conn:
        tables = q.find_tables(conn)
        states = q.alert_states(conn, None, only_firing=True)
        history = q.alert_history(conn, hour)
        sampling = q.sampling_summary(conn, hour)
    engine.dispose()
    assert tables == q.OpsTables(alerts=False, sampling=False)
    assert states.empty and history.empty and sampling.empty


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
        detail = q.get_trace(conn, traffic.chat_trace_id, None)
        series = q.percentiles(conn, hour, "model", ["llm"], over_time=True)
        users = q.user_spend(conn, hour)  # users in two tenants: PostgreSQL sums are NUMERIC
        found = q.list_traces(conn, hour, q.TraceFilter(text="quota exceeded"))
    engine.dispose()
    assert users["cost_usd"].sum() == pytest.approx(traffic.cost())
    assert list(found.rows["trace_id"]) == [traffic.error_trace_id]
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


@pytest.mark.parametrize("preset", ["24h", "7d", "30d"])
def test_long_windows_read_hourly_rollups_and_agree_with_the_minutes(
    sqlite_engine, hour: Window, traffic: Traffic, preset: str
):
    long, _ = window_from_params({"range": preset}, now=hour.end - 1)
    assert long.end == hour.end and long.length > 7200  # whole hours come from rollups_hourly
    with sqlite_engine.connect() as conn:
        short_totals, long_totals = q.totals(conn, hour), q.totals(conn, long)
        short_p = q.percentiles(conn, hour, "stage", ["stage"], over_time=False)
        long_p = q.percentiles(conn, long, "stage", ["stage"], over_time=False)
        series = q.sum_series(conn, long, by="model")
    assert long_totals.cost_usd == pytest.approx(short_totals.cost_usd)
    long_totals.cost_usd = short_totals.cost_usd  # float sums in another order
    assert long_totals == short_totals
    assert long_p.equals(short_p)
    assert series["cost_usd"].sum() == pytest.approx(traffic.cost())
    assert (series["bucket"] % long.bucket == 0).all()


def _add_ops_rows(url: str, now_s: int) -> None:
    writer = create_engine(url)
    with writer.begin() as conn:
        conn.execute(insert(AlertState), [
            dict(rule="monthly-budget", tenant="acme", key="", state="firing", severity="critical",
                 value=812.5, threshold=800.0, updated_at=now_s, fired_at=now_s - 60),
            dict(rule="p95-generate", tenant="acme", key="stage=generate", state="inactive",
                 severity="warning", value=900.0, threshold=2000.0, updated_at=now_s, fired_at=None),
            dict(rule="monthly-budget", tenant="globex", key="", state="pending",
                 severity="warning", value=90.0, threshold=100.0, updated_at=now_s, fired_at=None),
        ])  # fmt: skip
        conn.execute(insert(AlertEvent), [
            dict(at=now_s - 60, rule="monthly-budget", tenant="acme", key="", from_state="pending",
                 to_state="firing", severity="critical", value=812.5, threshold=800.0),
            dict(at=now_s - 90000, rule="monthly-budget", tenant="acme", key="",
                 from_state="inactive", to_state="pending", severity="warning", value=700.0,
                 threshold=800.0),
        ])  # fmt: skip
        minute = now_s // 60 * 60
        conn.execute(insert(SamplingStat), [
            dict(minute=minute, tenant="acme", policy="errors", kept=True, traces=3),
            dict(minute=minute, tenant="acme", policy="", kept=False, traces=40),
            dict(minute=minute - 60, tenant="globex", policy="errors", kept=True, traces=2),
        ])  # fmt: skip
    writer.dispose()


def test_alert_states_list_firing_first_and_history_only_in_the_window(
    tmp_path, traffic: Traffic, hour: Window, now_s: int
):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    seed_store(url, traffic)
    _add_ops_rows(url, now_s)
    engine = make_engine(url)
    with engine.connect() as conn:
        states = q.alert_states(conn, None)
        firing = q.alert_states(conn, "acme", only_firing=True)
        history = q.alert_history(conn, hour)
        sampling = q.sampling_summary(conn, hour).set_index("policy")
        acme_sampling = q.sampling_summary(conn, hour.with_tenant("acme")).set_index("policy")
    engine.dispose()
    assert list(states["state"]) == ["firing", "pending", "inactive"]
    assert list(firing["rule"]) == ["monthly-budget"]
    assert list(history["to_state"]) == ["firing"]  # the day-old change is outside the hour
    assert sampling.loc["errors", "kept"] == 5 and sampling.loc["", "dropped"] == 40
    assert acme_sampling.loc["errors", "kept"] == 3


def test_percentile_views_overall_equals_a_direct_merge(sqlite_engine, hour: Window, traffic):
    with sqlite_engine.connect() as conn:
        views = q.percentile_views(conn, hour, "model", ["llm"], ("latency_sketch", "ttft_sketch"))
    for model in ("gpt-4o", "gpt-4o-mini"):
        reference = sketch.new_sketch()
        for r in traffic.records:
            if r.kind == "llm" and r.model == model:
                reference.add(r.duration_ms)
        row = views["latency_sketch"].overall.set_index("model").loc[model]
        assert [row["p50"], row["p95"], row["p99"]] == pytest.approx(
            list(sketch.quantiles(reference).values())
        )
    over_time = views["ttft_sketch"].over_time
    assert over_time["count"].sum() == sum(r.ttft_ms is not None for r in traffic.records)


def test_sub_hour_chart_buckets_are_exact_even_on_long_windows(sqlite_engine, hour, traffic):
    day, _ = window_from_params({"range": "24h"}, now=hour.end - 1)
    assert day.bucket == 900
    with sqlite_engine.connect() as conn:
        series = q.sum_series(conn, day)
        views = q.percentile_views(conn, day, "stage", ["stage"])["latency_sketch"]
    expected = {r.start_ns // 10**9 // 900 * 900 for r in traffic.records}
    assert set(series["bucket"]) == expected
    stage_buckets = {r.start_ns // 10**9 // 900 * 900 for r in traffic.records if r.kind == "stage"}
    assert set(views.over_time["bucket"]) == stage_buckets


def test_a_month_is_charted_by_day_from_the_daily_rollups_alone(tmp_path, now_s: int):
    """30 days draw one point per UTC day, and a whole day is one daily row per series: with
    its hourly and minute rows gone, the month's charts still hold all of that day."""
    month, _ = window_from_params({"range": "30d"}, now=now_s)
    assert month.bucket == 86400
    rng = random.Random(3)
    first_day = month.start // 86400 * 86400 + 86400  # a whole day inside the window
    records = [
        span
        for day in range(4)
        for hour in (1, 9, 17)
        for span in rag_trace(rng, "acme", (first_day + day * 86400 + hour * 3600) * NS)
    ]
    url = f"sqlite:///{tmp_path / 'month.db'}"
    seed_store(url, Traffic(records=records))
    writer = create_engine(url)
    with writer.begin() as conn:  # whole days inside the window: only their daily rows stay
        conn.execute(delete(HourRollup).where(HourRollup.hour < first_day + 4 * 86400))
        conn.execute(delete(Rollup).where(Rollup.minute < first_day + 4 * 86400))
    writer.dispose()
    engine = make_engine(url)
    with engine.connect() as conn:
        requests = q.sum_series(conn, month, kinds=[q.REQUEST_KIND])
        stages = q.percentile_views(conn, month, "stage", ["stage"])["latency_sketch"]
    engine.dispose()
    assert list(requests["bucket"]) == [first_day + d * 86400 for d in range(4)]
    assert list(requests["count"]) == [3, 3, 3, 3]
    for (day, stage), row in stages.over_time.set_index(["bucket", "stage"]).iterrows():
        reference = sketch.new_sketch()
        for r in records:
            if r.kind == "stage" and r.stage == stage and r.start_ns // NS // 86400 * 86400 == day:
                reference.add(r.duration_ms)
        assert row["count"] == 3
        assert [row["p50"], row["p95"], row["p99"]] == pytest.approx(
            list(sketch.quantiles(reference).values())
        )
