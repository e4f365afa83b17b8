"""The slo, shift and quality rule kinds: config, evaluation on real rollups, the engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from glassline.collector.alerts import AlertConfigError, AlertEngine, parse_config
from glassline.collector.alerts import slo as slo_kind
from glassline.collector.alerts.kept_days import DAY, HOUR, KeptDays
from glassline.collector.alerts.models import SloCount
from glassline.collector.alerts.rules import Observation, evaluate_rule
from glassline.collector.alerts.windows import rolling
from glassline.collector.records import EvaluationRecord, SpanRecord
from glassline.collector.storage import Store, expiry
from glassline.collector.storage.testing import rows_deleted_per_transaction

from .support import T0

Span = Callable[..., SpanRecord]


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


@pytest.fixture(autouse=True)
def every_day_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass counts every past day of an SLO's period (the specs of the days counted a few a
    pass set their own bound)."""
    monkeypatch.setattr(slo_kind, "PERIOD_DAYS_PER_PASS", 100)


def rule(**fields: Any) -> dict[str, Any]:
    return {"rules": [{"name": "r", **fields}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (rule(kind="slo", sli="latency", objective=0.99), "rules[0].threshold_ms: a latency SLO"),
        (rule(kind="slo", sli="evaluation", objective=0.9), "rules[0].evaluation: an evaluation"),
        (rule(kind="slo", sli="availability", objective=1), "rules[0].objective: Input should be"),
        (rule(kind="slo", sli="uptime", objective=0.9), "rules[0].sli: Input should be"),
        (
            rule(
                kind="slo",
                sli="availability",
                objective=0.9,
                fast_burn={"long": "5m", "short": "1h", "factor": 14.4},
            ),
            "rules[0].fast_burn.short: must be shorter than long",
        ),
        (rule(kind="shift", dimension="model", points=0), "rules[0].points: Input should be"),
        (rule(kind="shift", dimension="user", points=5), "rules[0].dimension: Input should be"),
        (
            rule(kind="shift", dimension="model", points=5, per="model"),
            "rules[0].per: model is the shifting dimension itself",
        ),
        (rule(kind="quality", evaluation="relevance"), "rules[0]: set below (absolute)"),
        (rule(kind="quality", below=0.5), "rules[0].evaluation: Field required"),
        (
            rule(kind="quality", evaluation="x", below=0.5, metric="median"),
            "rules[0].metric: Input should be",
        ),
        (
            rule(kind="quality", evaluation="x", below=0.5, per="route"),
            "rules[0].per[0]: Input should be",
        ),
        (
            rule(kind="quality", evaluation="x", below=0.5, filters={"route": ["a"]}),
            "rules[0]: evaluations are not kept by route",
        ),
    ],
)
def test_config_errors_name_their_path(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(AlertConfigError) as info:
        parse_config(data)
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors


def test_the_slo_defaults_are_the_sre_workbooks_windows() -> None:
    [slo] = parse_config(rule(kind="slo", sli="availability", objective=0.999)).rules
    assert slo.kind == "slo"
    assert (slo.fast_burn.long, slo.fast_burn.short, slo.fast_burn.factor) == (
        timedelta(hours=1), timedelta(minutes=5), 14.4,
    )  # fmt: skip
    assert (slo.slow_burn.long, slo.slow_burn.short, slo.slow_burn.factor) == (
        timedelta(hours=6), timedelta(minutes=30), 6.0,
    )  # fmt: skip


def minutes(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(minutes=m, seconds=30) for m in range(count)]


def test_injected_errors_fire_the_fast_burn_at_the_right_minute_and_never_the_slow(
    store: Store, span: Span
) -> None:
    # Six quiet hours of 10 calls a minute, then every call fails for 12 minutes.
    quiet = minutes(T0 - timedelta(hours=6), 360)
    store.write([span("acme", at) for at in quiet for _ in range(10)])
    failing = minutes(T0, 12)
    store.write([span("acme", at, status="error") for at in failing for _ in range(10)])
    config = parse_config(rule(kind="slo", sli="availability", objective=0.99))
    engine = AlertEngine(store, config)
    fired: dict[str, list[tuple[int, str]]] = {"fast": [], "slow": []}
    try:
        for k in range(0, 25):  # one pass a minute, the clock injected
            report = engine.evaluate_once(T0 + timedelta(minutes=k))
            for t in report.transitions:
                fired[t.key.removeprefix("burn=")].append((k, t.to_state))
    finally:
        engine.close()
    # 1 h window: k bad minutes of 60 pass 14.4x a 1% budget at k = 9 (15%); the 5 min window
    # is clean again from k = 17. The 6 h window peaks at 12/360 = 3.3% (3.3x < 6x).
    assert [s for s in fired["fast"] if s[1] in ("firing", "resolved")] == [
        (9, "firing"), (17, "resolved"),
    ]  # fmt: skip
    assert fired["slow"] == []


def test_a_latency_slo_counts_calls_over_the_threshold_as_bad(store: Store, span: Span) -> None:
    at = T0 - timedelta(minutes=2)
    store.write([span("acme", at, duration_ms=100) for _ in range(80)])
    store.write([span("acme", at, duration_ms=5000) for _ in range(20)])
    found = observe(store, {"kind": "slo", "sli": "latency", "objective": 0.9,
                            "threshold_ms": 1000})  # fmt: skip
    fast = found["burn=fast"]
    assert fast.extra["long_burn"] == pytest.approx(2.0)  # 20% bad over a 10% budget
    assert not fast.breached


def observe(store: Store, body: dict[str, Any], now: datetime = T0) -> dict[str, Observation]:
    config = parse_config(rule(**body))
    with store.engine.connect() as conn:
        found = evaluate_rule(config.rules[0], conn, now)
    return {",".join(f"{k}={v}" for k, v in o.key if k != "tenant"): o for o in found}


def test_shift_fires_when_the_share_of_a_model_moves(store: Store, span: Span) -> None:
    before, now = T0 - timedelta(days=1, minutes=30), T0 - timedelta(minutes=30)
    store.write([span("acme", before, model="mini") for _ in range(90)])
    store.write([span("acme", before, model="big") for _ in range(10)])
    store.write([span("acme", now, model="mini") for _ in range(40)])
    store.write([span("acme", now, model="big") for _ in range(60)])
    found = observe(store, {"kind": "shift", "dimension": "model", "points": 20})
    assert found["model=big"].breached and found["model=big"].value == pytest.approx(50)
    assert found["model=big"].extra == {"share": 60.0, "baseline": 10.0}
    assert found["model=mini"].breached
    calm = observe(store, {"kind": "shift", "dimension": "model", "points": 60})
    assert not any(o.breached for o in calm.values())


def judged(store: Store, at: datetime, version: str, score: float, n: int) -> None:
    store.write_evaluations([
        EvaluationRecord(tenant="acme", id=f"{version}-{at.timestamp()}-{i}", name="judge",
                         time_ns=int(at.timestamp() * 1e9) + i, source="span_event",
                         score_value=score, score_label="pass" if score >= 0.7 else "fail",
                         model="gpt-4o", prompt_name="support-answer", prompt_version=version)
        for i in range(n)
    ])  # fmt: skip


def test_a_new_prompt_version_that_lowers_the_judges_score_fires_once(store: Store) -> None:
    judged(store, T0 - timedelta(days=1, minutes=30), "v7", 0.9, 30)
    judged(store, T0 - timedelta(minutes=30), "v8", 0.5, 30)
    config = parse_config(rule(kind="quality", evaluation="judge", drop=0.1, min_count=20))
    engine = AlertEngine(store, config)
    try:
        reports = [engine.evaluate_once(T0 + timedelta(minutes=m)) for m in range(3)]
    finally:
        engine.close()
    firing = [n for r in reports for n in r.notices if n.state == "firing"]
    assert len(firing) == 1
    assert (firing[0].value, firing[0].threshold) == (0.5, pytest.approx(0.8))


def test_quality_per_prompt_version_and_pass_rate_below(store: Store) -> None:
    judged(store, T0 - timedelta(minutes=30), "v7", 0.9, 30)
    judged(store, T0 - timedelta(minutes=20), "v8", 0.5, 30)
    judged(store, T0 - timedelta(minutes=10), "v9", 0.1, 5)  # under min_count
    found = observe(store, {"kind": "quality", "evaluation": "judge", "metric": "pass_rate",
                            "below": 0.8, "per": "prompt_version"})  # fmt: skip
    assert set(found) == {"prompt_version=v7", "prompt_version=v8"}
    assert found["prompt_version=v8"].breached and found["prompt_version=v8"].value == 0.0
    assert not found["prompt_version=v7"].breached


def test_an_evaluation_slo_burns_on_scores_under_min_score(store: Store) -> None:
    judged(store, T0 - timedelta(minutes=3), "v8", 0.5, 10)
    judged(store, T0 - timedelta(minutes=2), "v8", 0.95, 90)
    found = observe(store, {"kind": "slo", "sli": "evaluation", "objective": 0.99,
                            "evaluation": "judge", "min_score": 0.7})  # fmt: skip
    assert found["burn=fast"].extra["short_burn"] == pytest.approx(10.0)  # 10% bad / 1%


def test_an_evaluation_slo_with_min_score_spends_its_period_budget(store: Store) -> None:
    slo = {"kind": "slo", "sli": "evaluation", "objective": 0.9, "evaluation": "judge",
           "min_score": 0.7, "period": "30d"}  # fmt: skip
    judged(store, T0 - timedelta(days=12), "v7", 0.5, 10)  # whole past days, read once...
    judged(store, T0 - timedelta(days=3), "v7", 0.9, 30)
    judged(store, T0 - timedelta(minutes=2), "v8", 0.9, 60)  # ...and the partial days
    first = observe(store, slo)["burn=fast"].extra["budget_spent"]
    assert first == pytest.approx((10 / 100) / 0.1)
    judged(store, T0 - timedelta(days=12, minutes=1), "v7", 0.1, 100)  # late, on a past day
    again = observe(store, slo)["burn=fast"].extra["budget_spent"]
    assert again == pytest.approx((110 / 200) / 0.1)


def test_the_slo_api_reports_live_burn_rates_of_the_callers_tenant(
    store: Store, span: Span
) -> None:
    from starlette.applications import Starlette
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.testclient import TestClient

    from glassline.collector.alerts import routes
    from glassline.collector.auth import Principal

    now = datetime.now(UTC)
    store.write([span("acme", now - timedelta(minutes=2), status="error") for _ in range(5)])
    store.write([span("acme", now - timedelta(minutes=2)) for _ in range(5)])
    store.write([span("zeta", now - timedelta(minutes=2)) for _ in range(10)])
    engine = AlertEngine(store, parse_config(rule(kind="slo", sli="availability", objective=0.99)))

    async def principal(request: Any, call_next: Any) -> Any:
        request.state.principal = Principal(tenant=request.headers["x-test-tenant"])
        return await call_next(request)

    app = Starlette(routes=routes(store, engine))
    app.add_middleware(BaseHTTPMiddleware, dispatch=principal)
    try:
        with TestClient(app) as client:
            acme = client.get("/api/v1/slos", headers={"x-test-tenant": "acme"}).json()["slos"]
            zeta = client.get("/api/v1/slos", headers={"x-test-tenant": "zeta"}).json()["slos"]
    finally:
        engine.close()
    by_burn = {s["burn"]: s for s in acme}
    assert by_burn["fast"]["state"] == "critical"  # 50% bad over a 1% budget: 50x in both
    assert by_burn["fast"]["burn_rate"] == pytest.approx(50.0)
    assert by_burn["slow"]["state"] == "warning"
    assert {s["tenant"] for s in acme} == {"acme"}
    assert [(s["burn"], s["state"], s["budget_spent"]) for s in zeta] == [
        ("fast", "ok", 0.0), ("slow", "ok", 0.0),
    ]  # fmt: skip


def latency_slo_body(threshold_ms: float = 1000) -> dict[str, Any]:
    return {"kind": "slo", "sli": "latency", "objective": 0.9, "threshold_ms": threshold_ms,
            "per": "route", "period": "7d"}  # fmt: skip


def latency_slo(threshold_ms: float = 1000) -> Any:
    return parse_config(rule(**latency_slo_body(threshold_ms))).rules[0]


def slow_and_fast(store: Store, span: Span, at: datetime, route: str, slow: int) -> None:
    """``slow`` calls of 5 s and ``10 - slow`` of 100 ms on ``route`` at ``at``."""
    store.write([span("acme", at, route=route, duration_ms=5000 if i < slow else 100)
                 for i in range(10)])  # fmt: skip


def test_a_latency_slos_next_pass_merges_no_whole_day_or_hour_again(
    store: Store, span: Span
) -> None:
    for days in range(1, 6):
        for n in range(3):
            slow_and_fast(store, span, T0 - timedelta(days=days), f"r{n}", slow=days % 3)
            slow_and_fast(store, span, T0 - timedelta(minutes=days), f"r{n}", slow=0)
            slow_and_fast(store, span, T0 - timedelta(hours=days), f"r{n}", slow=0)
    slo = latency_slo()
    read: list[str] = []

    def count(*args: Any) -> None:
        if "latency_sketch" in args[2] and ("rollups_daily" in args[2] or "_hourly" in args[2]):
            read.append(args[2])

    with store.engine.connect() as conn:
        first = evaluate_rule(slo, conn, T0)
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            again = evaluate_rule(slo, conn, T0 + timedelta(minutes=1))
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
    # The five past days, today's hours and the 6 h window's were merged by the first pass,
    # and kept: the next reads only the minutes at the ends of its windows.
    assert read == []
    assert [o.extra for o in again] == [o.extra for o in first]
    assert len(first) == 6  # 3 routes x (fast, slow)
    assert [o.extra["budget_spent"] for o in first] == [pytest.approx((6 / 150) / 0.1)] * 6


def test_a_latency_slos_kept_days_count_as_a_full_merge_across_midnight(
    store: Store, span: Span
) -> None:
    midnight = T0.replace(hour=0) + timedelta(days=1)
    for days in range(0, 9):
        slow_and_fast(store, span, midnight - timedelta(days=days, hours=3), "a", slow=days % 4)
        slow_and_fast(store, span, midnight - timedelta(days=days, minutes=1), "b", slow=1)
    slow_and_fast(store, span, midnight + timedelta(minutes=2), "a", slow=7)

    def both(slo: Any, now: datetime) -> tuple[Any, Any]:
        period = rolling(now, slo.period)
        with store.engine.connect() as conn:
            return slo_kind._counted(slo, conn, period), slo_kind._good_total(slo, conn, period)

    for now in (midnight - timedelta(minutes=1), midnight + timedelta(minutes=5)):
        kept, merged = both(latency_slo(), now)
        assert kept == merged and kept[(("route", "a"), ("tenant", "acme"))][1] == 70 + 10 * (
            now > midnight
        )
    # A call written late for a kept day, and a rule reloaded with another threshold.
    slow_and_fast(store, span, midnight - timedelta(days=3, hours=5), "b", slow=10)
    now = midnight + timedelta(minutes=6)
    for threshold in (1000, 6000):
        kept, merged = both(latency_slo(threshold), now)
        assert kept == merged
    assert kept[(("route", "b"), ("tenant", "acme"))] == (80.0, 80.0)


def five_days(store: Store, span: Span) -> None:
    """Five past days of three routes of acme and one of zeta, and their last minutes."""
    for days in range(1, 6):
        for n in range(3):
            slow_and_fast(store, span, T0 - timedelta(days=days), f"r{n}", slow=days % 3)
            slow_and_fast(store, span, T0 - timedelta(minutes=days), f"r{n}", slow=0)
        store.write([span("zeta", T0 - timedelta(days=days), route="z", duration_ms=3000)])


def sketch_reads(store: Store) -> tuple[list[str], Callable[[], None]]:
    """Statements that read the daily rollups' latency sketches, from now until stopped."""
    read: list[str] = []

    def count(*args: Any) -> None:
        if "latency_sketch" in args[2] and "rollups_daily" in args[2]:
            read.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    return read, lambda: event.remove(store.engine, "before_cursor_execute", count)


def another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing kept in this process's memory, as in another process."""
    monkeypatch.setattr(slo_kind, "_kept", {DAY: KeptDays(), HOUR: KeptDays()})


def full_merge(rule: Any, conn: Any, period: Any, days: Any = None) -> Any:
    return slo_kind._good_total(rule, conn, period)


def test_another_process_answers_the_slo_api_from_the_days_the_engine_kept(
    store: Store, span: Span, monkeypatch: pytest.MonkeyPatch
) -> None:
    five_days(store, span)
    config = parse_config({"rules": [{"name": "fast", **latency_slo_body()}]})
    engine = AlertEngine(store, config)
    try:
        engine.evaluate_once(T0)  # the engine's process counts each whole day and keeps it
    finally:
        engine.close()
    another_process(monkeypatch)
    read, stop = sketch_reads(store)
    try:
        with store.engine.connect() as conn:
            answers = {t: slo_kind.slo_status(conn, config, t, T0) for t in ("acme", "zeta")}
    finally:
        stop()
    assert read == []  # no whole past day counted again, for either tenant
    monkeypatch.setattr(slo_kind, "_counted", full_merge)
    with store.engine.connect() as conn:
        assert answers == {t: slo_kind.slo_status(conn, config, t, T0) for t in ("acme", "zeta")}
    assert len(answers["acme"]) == 6 and answers["acme"][0]["budget_spent"] == pytest.approx(0.6)


def test_a_pass_after_a_restart_counts_no_whole_past_day_or_hour_again(
    store: Store, span: Span, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hours at the ends of a period and in the burn windows were kept in memory only: a
    process started anew counted them again (8 rules over 2,000 routes: 3.6-4.4 s)."""
    five_days(store, span)
    config = parse_config({"rules": [{"name": "fast", **latency_slo_body()}]})
    before = AlertEngine(store, config)
    try:
        before.evaluate_once(T0)
    finally:
        before.close()
    another_process(monkeypatch)
    read: list[str] = []

    def count(*args: Any) -> None:
        if "latency_sketch" in args[2] and ("rollups_daily" in args[2] or "_hourly" in args[2]):
            read.append(args[2])

    after = AlertEngine(store, config)
    event.listen(store.engine, "before_cursor_execute", count)
    try:
        report = after.evaluate_once(T0 + timedelta(seconds=15))
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
        after.close()
    assert read == []  # the minutes at the ends of its windows only
    assert report.rules == 1 and report.observations == 6


def test_a_store_without_day_counts_has_them_counted_a_few_a_pass_and_alerts_on_time(
    store: Store, span: Span, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade from before ``slo_counts`` (or a new rule) has every past day of the period
    to count: 30 days of 8 rules over 2,000 routes took a first pass 36 s, every alert late.
    The burn windows are counted at once; the period's days two a pass, ``budget_spent``
    shown once all are, then as a full merge has it."""
    monkeypatch.setattr(slo_kind, "PERIOD_DAYS_PER_PASS", 2)
    five_days(store, span)
    slo = latency_slo()
    read, stop = sketch_reads(store)
    passes, days_read = [], []
    try:
        for minute in range(4):
            with store.engine.connect() as conn:
                passes.append(evaluate_rule(slo, conn, T0 + timedelta(minutes=minute)))
            days_read.append(len(read))
    finally:
        stop()
    assert days_read == [2, 4, 5, 5]  # five past days, two a pass, then none again
    for minute, found in enumerate(passes):
        with monkeypatch.context() as merge, store.engine.connect() as conn:
            merge.setattr(slo_kind, "_counted", full_merge)
            expected = evaluate_rule(slo, conn, T0 + timedelta(minutes=minute))
        assert len(found) == 6
        # The alert's value and state on every pass; the budget spent once every day is in.
        assert [(o.key, o.value, o.breached) for o in found] == [
            (o.key, o.value, o.breached) for o in expected
        ]
        if minute < 2:
            assert all("budget_spent" not in o.extra for o in found)
        else:
            assert [o.extra for o in found] == [o.extra for o in expected]


def test_a_span_written_late_for_a_kept_day_is_counted_again_by_every_process(
    store: Store, span: Span, monkeypatch: pytest.MonkeyPatch
) -> None:
    five_days(store, span)
    slo = latency_slo()
    with store.engine.connect() as conn:
        evaluate_rule(slo, conn, T0)
    slow_and_fast(store, span, T0 - timedelta(days=3, hours=2), "r0", slow=10)
    for process in ("this", "another"):
        if process == "another":
            another_process(monkeypatch)
        with store.engine.connect() as conn:
            found = evaluate_rule(slo, conn, T0 + timedelta(minutes=1))
            merged = full_merge(slo, conn, rolling(T0 + timedelta(minutes=1), slo.period))
        [r0] = [o.extra for o in found if ("route", "r0") in o.key and ("burn", "fast") in o.key]
        assert merged[key_r0()] == (94.0, 110.0)  # 6 of 100 slow, then 10 more slow calls
        assert r0["budget_spent"] == _burn(merged[key_r0()], 0.1)
    with store.engine.connect() as conn:
        days = (SloCount.tenant == "acme", SloCount.slo == slo_kind._scope(slo).slo)
        late = conn.scalars(select(SloCount.counts).where(*days)).all()
    assert sorted(c["fingerprint"] for c in late) == [30, 30, 30, 30, 40]


def key_r0() -> Any:
    return (("route", "r0"), ("tenant", "acme"))


def _burn(good_total: tuple[float, float], budget: float) -> float:
    return round((1 - good_total[0] / good_total[1]) / budget, 4)


def test_the_retention_job_deletes_the_days_no_slo_period_holds_a_bounded_number_at_a_time(
    store: Store, span: Span, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every other table, ``slo_counts`` goes by the retention job, not by the alert pass,
    and at most ``expiry.PURGE_ROWS`` rows a transaction (after downtime, or rules with a
    shorter period, there are many)."""
    five_days(store, span)
    config = parse_config({"rules": [{"name": "fast", **latency_slo_body()}]})
    engine = AlertEngine(store, config)
    day = int(T0.timestamp()) // DAY * DAY
    old = [{"slo": f"gone-{n:03d}", "tenant": "acme", "day": day - 30 * DAY, "counts": {}}
           for n in range(250)]  # fmt: skip
    try:
        engine.evaluate_once(T0)
        with store.engine.begin() as conn:
            conn.execute(insert(SloCount), old)
        engine.evaluate_once(T0 + timedelta(days=5))  # a 7-day period: the oldest days are out
        past = {day - d * DAY: 2 for d in range(5, 0, -1)} | {day: 1}  # T0's day, acme's
        # Whole past hours: T0's last (acme's minutes), the first day's of the period now.
        hours = {day + 11 * HOUR: 1, day - 2 * DAY + 12 * HOUR: 2}
        assert slo_days(store) == past | hours | {day - 30 * DAY: 250}  # the pass deleted none
        deleted = rows_deleted_per_transaction(store.engine, "slo_counts")
        monkeypatch.setattr(expiry, "PURGE_ROWS", 100)
        assert engine.purge_expired(T0 + timedelta(days=5)) == 257
        assert deleted == [100, 100, 57]
        # T0's 11:00 is inside the period now (its whole day is read): no pass reads it again.
        assert slo_days(store) == {day - 2 * DAY: 2, day - DAY: 2, day: 1} | {
            day - 2 * DAY + 12 * HOUR: 2
        }
    finally:
        engine.close()


def slo_days(store: Store) -> dict[int, int]:
    """Rows of ``slo_counts`` per day (or hour) they count."""
    with store.engine.connect() as conn:
        found = conn.execute(select(SloCount.day, func.count()).group_by(SloCount.day)).all()
    return {int(day): n for day, n in found}
