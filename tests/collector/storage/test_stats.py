"""Stats from the rollups equal the sums over the spans, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import delete

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.aggregates import canonical_model
from glassline.collector.storage.models import HourRollup, Rollup, Span
from glassline.collector.storage.queries import QueryError
from glassline.collector.storage.sketch import new_sketch
from glassline.collector.storage.stats import stats
from glassline.semconv import attributes as attrs

from .test_queries import HOUR_NS, T0, seed


def _expected(spans: list[SpanRecord], key, tenant: str | None = None, kind: str | None = None):
    groups: dict = defaultdict(lambda: {"count": 0, "errors": 0, "cost": 0.0, "lat": []})
    for s in spans:
        if (tenant and s.tenant != tenant) or (kind and s.kind != kind):
            continue
        g = groups[key(s)]
        g["count"] += 1
        g["errors"] += s.is_error
        g["cost"] += s.cost_usd or 0.0
        g["lat"].append(s.duration_ms)
    return groups


@pytest.mark.parametrize(
    ("group_by", "key"),
    [
        ("stage", lambda s: s.stage or ""),
        ("model", lambda s: canonical_model(s.model or "")),
        ("snapshot", lambda s: s.model or ""),
        ("tenant", lambda s: s.tenant),
        ("kind", lambda s: s.kind),
        ("route", lambda s: s.route or ""),
        # Read from the raw span: its resource and attributes, not the typed fields.
        ("service_version", lambda s: str(s.resource["service.version"])),
        ("prompt_name", lambda s: str(s.attributes.get(attrs.PROMPT_NAME, ""))),
        ("prompt_version", lambda s: str(s.attributes.get(attrs.PROMPT_VERSION, ""))),
        ("api_key", lambda s: str(s.attributes[attrs.API_KEY_NAME])),
        ("hour", lambda s: s.start_ns // HOUR_NS * 3600),
        ("minute", lambda s: s.start_ns // 60_000_000_000 * 60),
        ("day", lambda s: s.start_ns // (24 * HOUR_NS) * 86_400),
    ],
)
def test_stats_equal_the_sums_over_the_spans(store: Store, group_by: str, key) -> None:
    spans = seed(store, every_s=37 * 60)  # 120 traces over 3 days
    # An uneven range: minute rows at the edges, then hourly rows, daily rows in the middle.
    start, end = T0 + 17 * 60 * 10**9, T0 + 2 * 24 * HOUR_NS + (5 * 60 + 43) * 60 * 10**9
    assert end // (24 * HOUR_NS) >= T0 // (24 * HOUR_NS) + 2  # spans at least one whole day
    inside = [s for s in spans if start <= s.start_ns < end]
    with store.session() as session:
        rows = stats(session, "acme", start, end, group_by)
        # The rollups answer on their own: deleting the spans changes nothing.
        session.execute(delete(Span))
        session.commit()
        again = stats(session, "acme", start, end, group_by)
    assert again == rows
    want = _expected(inside, key, tenant="acme")
    assert {r.group: r.count for r in rows} == {k: g["count"] for k, g in want.items()}
    assert {r.group: r.errors for r in rows} == {k: g["errors"] for k, g in want.items()}
    for r in rows:
        assert r.cost_usd == pytest.approx(want[r.group]["cost"])
        exact = new_sketch()
        for ms in want[r.group]["lat"]:
            exact.add(ms)
        assert r.p95_ms == pytest.approx(exact.get_quantile_value(0.95), rel=1e-9)


def test_stats_can_keep_one_span_kind(store: Store) -> None:
    spans = seed(store)
    with store.session() as session:
        rows = stats(session, None, T0, T0 + 4 * HOUR_NS, "stage", kind="llm")
    assert [r.group for r in rows] == ["generate"]
    assert rows[0].count == sum(1 for s in spans if s.kind == "llm")
    assert rows[0].p50_ms == pytest.approx(700, rel=0.02)


def test_stats_by_user_come_from_user_rollups(store: Store) -> None:
    spans = seed(store)
    with store.session() as session:
        rows = stats(session, "globex", T0, T0 + 4 * HOUR_NS, "user")
    roots = [s for s in spans if s.is_root and s.tenant == "globex"]
    assert {r.group: r.count for r in rows} == {
        u: sum(1 for s in roots if s.user_id == u) for u in {s.user_id for s in roots}
    }
    total_cost = sum(s.cost_usd or 0 for s in spans if s.tenant == "globex")
    assert sum(r.cost_usd for r in rows) == pytest.approx(total_cost)
    assert all(r.p95_ms is None for r in rows)


@pytest.mark.parametrize(
    ("args", "parameter"), [((T0, T0 + 1, "colour"), "group_by"), ((T0, T0, "stage"), "end")]
)
def test_bad_stats_parameters_name_the_parameter(store: Store, args: tuple, parameter: str) -> None:
    with store.session() as session, pytest.raises(QueryError) as err:
        stats(session, "acme", *args)
    assert err.value.parameter == parameter


def test_whole_days_and_hours_are_read_from_the_coarser_rollups(store: Store) -> None:
    spans = seed(store, every_s=37 * 60)
    day1 = (T0 // (24 * HOUR_NS) + 1) * 24 * HOUR_NS
    in_day = sum(1 for s in spans if day1 <= s.start_ns < day1 + 24 * HOUR_NS)
    in_hours = sum(1 for s in spans if day1 <= s.start_ns < day1 + 5 * HOUR_NS)
    with store.session() as session:
        session.execute(delete(Rollup))  # without minute rows, hours and days still answer
        session.commit()
        hours = stats(session, None, day1, day1 + 5 * HOUR_NS, "tenant")
        session.execute(delete(HourRollup))  # without hour rows, whole days still answer
        session.commit()
        days = stats(session, None, day1, day1 + 24 * HOUR_NS, "tenant")
        by_minute = stats(session, None, day1, day1 + 24 * HOUR_NS, "minute")
    assert sum(r.count for r in hours) == in_hours > 0
    assert sum(r.count for r in days) == in_day > in_hours
    assert by_minute == []  # minute grouping reads minute rows only
