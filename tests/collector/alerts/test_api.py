"""GET /api/v1/alerts and /api/v1/budgets: the caller's tenant only, admins see all."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.testclient import TestClient

from glassline.collector.alerts import AlertEngine, parse_config, routes
from glassline.collector.auth import Principal
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store

from .support import T0


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


CONFIG = {
    "rules": [
        {"name": "daily", "kind": "budget", "window": "24h", "limit_usd": 10, "warn_usd": 5},
        {
            "name": "acme-hourly",
            "kind": "budget",
            "window": "1h",
            "limit_usd": 100,
            "filters": {"tenant": "acme"},
        },
        {"name": "slow", "kind": "latency", "threshold_ms": 500},
    ]
}


@pytest.fixture
def engine(store: Store) -> Iterator[AlertEngine]:
    e = AlertEngine(store, parse_config(CONFIG))
    yield e
    e.close()


@pytest.fixture
def client(store: Store, engine: AlertEngine) -> Iterator[Callable[[str], TestClient]]:
    yield from _serve(store, engine)


def _serve(store: Store, engine: AlertEngine) -> Iterator[Callable[[str], TestClient]]:
    """The alert routes behind a stand-in for auth; ``client(tenant)`` calls as that tenant."""

    async def principal(request: Request, call_next: Any) -> Any:
        # Stands in for the server's auth middleware: the test names the caller in a header.
        tenant = request.headers["x-test-tenant"]
        request.state.principal = Principal(tenant=tenant, is_admin=tenant == "admin")
        return await call_next(request)

    app = Starlette(routes=routes(store, engine))
    app.add_middleware(BaseHTTPMiddleware, dispatch=principal)
    with TestClient(app) as test_client:

        def as_tenant(tenant: str) -> TestClient:
            test_client.headers["x-test-tenant"] = tenant
            return test_client

        yield as_tenant


def test_alerts_api_shows_rules_states_and_history_of_the_callers_tenant(
    store: Store,
    engine: AlertEngine,
    client: Callable[[str], TestClient],
    span: Callable[..., SpanRecord],
) -> None:
    at = T0 - timedelta(minutes=2)
    store.write([span("acme", at, cost_usd=12.0), span("zeta", at, cost_usd=7.0)])
    engine.evaluate_once(T0)

    acme = client("acme").get("/api/v1/alerts").json()
    assert [r["name"] for r in acme["rules"]] == ["daily", "acme-hourly", "slow"]
    assert acme["rules"][0] == {
        "name": "daily", "kind": "budget", "window": "24h", "limit_usd": 10.0, "warn_usd": 5.0,
        "timezone": "UTC", "filters": {}, "per": [], "for": "0s", "severity": "warning",
        "labels": {}, "annotations": {},
    }  # fmt: skip
    assert [
        (s["rule"], s["tenant"], s["state"], s["severity"], s["value"]) for s in acme["states"]
    ] == [("daily", "acme", "firing", "critical", 12.0)]
    assert [(h["from"], h["to"]) for h in acme["history"]] == [
        ("pending", "firing"),
        ("inactive", "pending"),
    ]
    assert {h["tenant"] for h in acme["history"]} == {"acme"}

    zeta = client("zeta").get("/api/v1/alerts").json()
    assert [r["name"] for r in zeta["rules"]] == ["daily", "slow"]  # acme-only rule hidden
    assert [(s["tenant"], s["severity"]) for s in zeta["states"]] == [("zeta", "warning")]

    admin = client("admin").get("/api/v1/alerts").json()
    assert sorted(s["tenant"] for s in admin["states"]) == ["acme", "zeta"]
    one = client("admin").get("/api/v1/alerts", params={"tenant": "zeta"}).json()
    assert [s["tenant"] for s in one["states"]] == ["zeta"]
    # A tenant asking for another tenant is refused, as on every other query route.
    for path in ("/api/v1/alerts", "/api/v1/budgets"):
        sneaky = client("zeta").get(path, params={"tenant": "acme"})
        assert sneaky.status_code == 403 and sneaky.json()["parameter"] == "tenant"
    assert client("zeta").get("/api/v1/budgets", params={"tenant": "zeta"}).status_code == 200


def test_budgets_api_reports_live_spend_state_and_forecast_per_tenant(
    store: Store, client: Callable[[str], TestClient], span: Callable[..., SpanRecord]
) -> None:
    now = datetime.now(UTC)
    store.write([span("acme", now - timedelta(minutes=30), cost_usd=6.0)])
    store.write([span("zeta", now - timedelta(minutes=30), cost_usd=11.0)])

    acme = client("acme").get("/api/v1/budgets").json()["budgets"]
    assert [
        (b["rule"], b["window"], b["spend_usd"], b["limit_usd"], b["warn_usd"], b["state"])
        for b in acme
    ] == [
        ("daily", "24h", 6.0, 10.0, 5.0, "warn"),
        ("acme-hourly", "1h", 6.0, 100.0, None, "ok"),
    ]
    # Rolling window: the $6 came in its last two hours, $3/h, so the remaining $4 lasts
    # 80 minutes (spread over the whole 24 hours it once read $0.25/h and 16 hours).
    exhaustion = datetime.fromisoformat(acme[0]["forecast_exhaustion"])
    assert timedelta(minutes=79) < exhaustion - now < timedelta(minutes=81)
    assert acme[0]["forecast"] == "at $3.00/h the 24h limit is reached in 1.3 hours"
    assert acme[1]["forecast_exhaustion"] is None  # none of it in the last five minutes

    zeta = client("zeta").get("/api/v1/budgets").json()["budgets"]
    assert [(b["rule"], b["spend_usd"], b["state"], b["forecast_exhaustion"]) for b in zeta] == [
        ("daily", 11.0, "critical", None)
    ]
    fresh = client("nobody").get("/api/v1/budgets").json()["budgets"]
    assert [(b["rule"], b["spend_usd"], b["state"]) for b in fresh] == [("daily", 0.0, "ok")]
    # An admin without ?tenant= sees every tenant's budgets (it once saw none).
    everyone = client("admin").get("/api/v1/budgets").json()["budgets"]
    assert [(b["tenant"], b["rule"], b["spend_usd"]) for b in everyone] == [
        ("acme", "daily", 6.0),
        ("acme", "acme-hourly", 6.0),
        ("zeta", "daily", 11.0),
    ]
    one = client("admin").get("/api/v1/budgets", params={"tenant": "zeta"}).json()["budgets"]
    assert [(b["tenant"], b["rule"]) for b in one] == [("zeta", "daily")]


def test_an_admins_budgets_read_each_rule_once_for_every_tenant(
    store: Store, span: Callable[..., SpanRecord]
) -> None:
    # Each tenant's budgets were read on their own: 5,000 tenants took a minute an answer.
    at = datetime.now(UTC) - timedelta(minutes=30)

    def statements_for(tenants: int) -> tuple[int, list[tuple[str, str, float]]]:
        store.write([span(f"t{n:03}", at, cost_usd=1.0 + n) for n in range(tenants)])
        engine = AlertEngine(store, parse_config(CONFIG))
        counted: list[str] = []

        def count(*args: Any) -> None:
            counted.append(args[2])

        try:
            client = next(_serve(store, engine))("admin")
            event.listen(store.engine, "before_cursor_execute", count)
            try:
                found = client.get("/api/v1/budgets").json()["budgets"]
            finally:
                event.remove(store.engine, "before_cursor_execute", count)
        finally:
            engine.close()
        return len(counted), [(b["tenant"], b["rule"], b["spend_usd"]) for b in found]

    few, answered = statements_for(3)
    many, answered_many = statements_for(40)
    assert many == few
    assert answered == [("t000", "daily", 1.0), ("t001", "daily", 2.0), ("t002", "daily", 3.0)]
    assert len(answered_many) == 40 and answered_many[39] == ("t039", "daily", 40.0)


def test_bad_history_limit_is_a_400(client: Callable[[str], TestClient]) -> None:
    response = client("acme").get("/api/v1/alerts", params={"limit": "many"})
    assert response.status_code == 400 and "limit" in response.json()["error"]


PER_KEY = {
    "rules": [
        {"name": "per-user", "kind": "budget", "window": "24h", "per": "user",
         "limit_usd": 1, "warn_usd": 0.8},
        {"name": "per-model", "kind": "budget", "window": "24h", "per": "model", "limit_usd": 10},
        {"name": "daily", "kind": "budget", "window": "24h", "limit_usd": 100},
        {"name": "per-key", "kind": "budget", "window": "24h", "per": "api_key",
         "filters": {"api_key": ["batch-jobs"]}, "limit_usd": 50},
    ]
}  # fmt: skip


def test_a_guard_is_answered_only_the_keys_near_their_budget(
    store: Store, span: Callable[..., SpanRecord]
) -> None:
    # A per-user budget of 100,000 users answered every user on every refresh of every app.
    now = datetime.now(UTC)
    at = now - timedelta(minutes=30)
    spends = {"light": 0.1, "under": 0.399, "at-floor": 0.4, "heavy": 0.9}
    store.write(
        [
            span("acme", at, user_id=u, model="mini", cost_usd=c, parent=None)
            for u, c in spends.items()
        ]
    )
    store.write([span("acme", at, model="gpt-4o", cost_usd=6.0), span("acme", at, model="mini")])
    engine = AlertEngine(store, parse_config(PER_KEY))
    try:
        client = next(_serve(store, engine))("acme")
        every = client.get("/api/v1/budgets").json()
        near = client.get("/api/v1/budgets", params={"min_share": "0.5"}).json()
    finally:
        engine.close()
    assert "unlisted" not in every and len(every["budgets"]) == 4 + 2 + 1
    assert [(b["rule"], b["labels"], b["spend_usd"]) for b in near["budgets"]] == [
        ("per-user", {"user": "at-floor"}, 0.4),  # half of the warn level, $0.80
        ("per-user", {"user": "heavy"}, 0.9),
        ("per-model", {"model": "gpt-4o"}, 6.0),  # half of the limit, $10, is $5
        ("daily", {}, 7.799),  # a tenant's own budget is always listed
    ]
    assert near["unlisted"] == [
        {"rule": "per-user", "tenant": "acme", "per": ["user"], "filters": {}, "below_usd": 0.4,
         "limit_usd": 1.0, "warn_usd": 0.8},
        {"rule": "per-model", "tenant": "acme", "per": ["model"], "filters": {}, "below_usd": 5.0,
         "limit_usd": 10.0, "warn_usd": None},
        {"rule": "per-key", "tenant": "acme", "per": ["api_key"],
         "filters": {"api_key": ["batch-jobs"]}, "below_usd": 25.0, "limit_usd": 50.0,
         "warn_usd": None},  # a key its filters leave out has no budget of this rule
    ]  # fmt: skip

    # The listed keys are the same as in the whole answer, forecasts included (the time of
    # exhaustion aside: each answer counts from its own now).
    def timeless(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k != "forecast_exhaustion"}

    whole = {(b["rule"], str(b["labels"])): timeless(b) for b in every["budgets"]}
    assert [whole[(b["rule"], str(b["labels"]))] for b in near["budgets"]] == [
        timeless(b) for b in near["budgets"]
    ]


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "half"])
def test_a_min_share_out_of_range_is_a_400_naming_it(
    client: Callable[[str], TestClient], value: str
) -> None:
    response = client("acme").get("/api/v1/budgets", params={"min_share": value})
    assert response.status_code == 400 and response.json()["parameter"] == "min_share"


def test_alert_states_are_answered_the_most_pressing_first_up_to_a_thousand(
    store: Store,
    engine: AlertEngine,
    client: Callable[[str], TestClient],
    span: Callable[..., SpanRecord],
) -> None:
    # A per-user budget keeps a state for each user that went over it: 100,000 of them
    # answered 35 MB in 3.3 s.
    from sqlalchemy import insert

    from glassline.collector.alerts.models import AlertState

    old = int((T0 - timedelta(days=2)).timestamp())
    with store.engine.begin() as conn:
        conn.execute(insert(AlertState), [
            {"rule": "daily", "tenant": "acme", "key": f"user=u{n}", "dims": {"user": f"u{n}"},
             "state": "resolved", "severity": "critical", "updated_at": old + n, "annotations": {}}
            for n in range(1_500)
        ])  # fmt: skip
    store.write([span("acme", T0 - timedelta(minutes=2), cost_usd=12.0)])
    engine.evaluate_once(T0)  # "daily" fires for acme
    answer = client("acme").get("/api/v1/alerts").json()
    states = answer["states"]
    assert len(states) == 1_000 and answer["more_states"] is True
    assert [(s["rule"], s["state"]) for s in states[:1]] == [("daily", "firing")]
    assert [s["labels"]["user"] for s in states[1:3]] == ["u1499", "u1498"]  # latest first
