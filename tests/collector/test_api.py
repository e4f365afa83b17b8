"""The query API over a real store (SQLite and PostgreSQL), tenant isolation on every route."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.testclient import TestClient

from glassline.collector.auth import Principal
from glassline.collector.sampling import SamplingSink, TailDecider
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.storage import Store
from glassline.collector.storage.api import routes
from glassline.collector.storage.testing import llm_trace

HOUR_NS = 3600 * 1_000_000_000
T0 = 1_790_000_000 * 1_000_000_000 // HOUR_NS * HOUR_NS


class FakeAuth(BaseHTTPMiddleware):
    """Stands in for the server's auth: the test names the caller in a header."""

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        who = request.headers.get("x-test-caller")
        if who == "admin":
            request.state.principal = Principal("ops", is_admin=True)
        elif who:
            request.state.principal = Principal(who)
        return await call_next(request)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


@pytest.fixture
def client(store: Store) -> TestClient:
    for n in range(6):
        tenant = "acme" if n < 4 else "globex"
        model = "gpt-4o" if n % 2 else "claude-3-5-haiku"
        store.write(llm_trace(n, T0 + n * 60 * 10**9, tenant=tenant, model=model, cost_usd=0.01))
    app = Starlette(routes=routes(store), middleware=[Middleware(FakeAuth)])
    return TestClient(app)


def get(client: TestClient, caller: str, url: str, **params: Any) -> Any:
    return client.get(url, params=params, headers={"x-test-caller": caller})


def trace_id(n: int) -> str:
    return f"{n + 1:032x}"


def test_a_tenant_lists_only_its_own_traces_newest_first(client: TestClient) -> None:
    body = get(client, "acme", "/api/v1/traces").json()
    assert [t["trace_id"] for t in body["traces"]] == [trace_id(n) for n in (3, 2, 1, 0)]
    assert {t["tenant"] for t in body["traces"]} == {"acme"}
    assert body["next_cursor"] is None
    first = body["traces"][0]
    assert (first["root_name"], first["span_count"], first["models"]) == (
        "answer_question",
        4,
        ["gpt-4o"],
    )


def test_the_trace_list_pages_with_the_cursor_and_filters(client: TestClient) -> None:
    page1 = get(client, "acme", "/api/v1/traces", limit=3).json()
    page2 = get(client, "acme", "/api/v1/traces", limit=3, cursor=page1["next_cursor"]).json()
    assert [t["trace_id"] for t in page1["traces"] + page2["traces"]] == [
        trace_id(n) for n in (3, 2, 1, 0)
    ]
    only_gpt = get(client, "acme", "/api/v1/traces", model="gpt-4o").json()["traces"]
    assert [t["trace_id"] for t in only_gpt] == [trace_id(3), trace_id(1)]
    in_range = get(
        client, "acme", "/api/v1/traces", start=T0 + 60 * 10**9, end="2026-09-21T14:03:00Z"
    ).json()["traces"]
    assert [t["trace_id"] for t in in_range] == [trace_id(2), trace_id(1)]


def test_the_trace_list_searches_content_within_the_callers_tenant(
    client: TestClient, store: Store
) -> None:
    asked = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Lost parcel"}]}])
    for n, tenant in ((10, "acme"), (11, "globex")):
        spans = llm_trace(n, T0 + n * 60 * 10**9, tenant=tenant)
        spans[-1].attributes["gen_ai.input.messages"] = asked
        store.write(spans)
    assert [t["trace_id"] for t in get(client, "acme", "/api/v1/traces", q="parcel").json()[
        "traces"]] == [trace_id(10)]  # fmt: skip
    found = get(client, "globex", "/api/v1/traces", q='"lost parcel"', status="ok").json()
    assert [t["trace_id"] for t in found["traces"]] == [trace_id(11)]
    everyone = get(client, "admin", "/api/v1/traces", q="parcel").json()["traces"]
    assert [t["tenant"] for t in everyone] == ["globex", "acme"]
    bad = get(client, "acme", "/api/v1/traces", q="-parcel")
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "q"


def test_a_tenant_cannot_ask_for_another_tenants_traces(client: TestClient) -> None:
    response = get(client, "acme", "/api/v1/traces", tenant="globex")
    assert response.status_code == 403
    assert response.json()["parameter"] == "tenant"


def test_an_admin_sees_every_tenant_or_narrows_to_one(client: TestClient) -> None:
    everyone = get(client, "admin", "/api/v1/traces").json()["traces"]
    assert {t["tenant"] for t in everyone} == {"acme", "globex"}
    globex = get(client, "admin", "/api/v1/traces", tenant="globex").json()["traces"]
    assert [t["trace_id"] for t in globex] == [trace_id(5), trace_id(4)]


def test_a_trace_comes_with_all_its_spans(client: TestClient) -> None:
    body = get(client, "acme", f"/api/v1/traces/{trace_id(1)}").json()
    assert body["trace"]["trace_id"] == trace_id(1)
    assert [s["name"] for s in body["spans"]] == [
        "answer_question",
        "retrieve",
        "rerank",
        "chat gpt-4o",
    ]
    assert body["spans"][3]["input_tokens"] == 1200
    assert body["spans"][3]["attributes"] == {}


def test_a_long_traces_spans_come_in_pages(client: TestClient) -> None:
    first = get(client, "acme", f"/api/v1/traces/{trace_id(1)}", limit="3").json()
    assert [s["name"] for s in first["spans"]] == ["answer_question", "retrieve", "rerank"]
    assert first["next_offset"] == 3
    rest = get(client, "acme", f"/api/v1/traces/{trace_id(1)}", offset="3").json()
    assert [s["name"] for s in rest["spans"]] == ["chat gpt-4o"]
    assert rest["next_offset"] is None and rest["trace"] == first["trace"]


def test_another_tenants_trace_is_not_found(client: TestClient) -> None:
    response = get(client, "acme", f"/api/v1/traces/{trace_id(4)}")
    assert response.status_code == 404
    assert get(client, "globex", f"/api/v1/traces/{trace_id(4)}").status_code == 200
    assert get(client, "admin", f"/api/v1/traces/{trace_id(4)}").status_code == 200


def test_stats_are_scoped_to_the_callers_tenant(client: TestClient) -> None:
    window = {"start": T0, "end": T0 + HOUR_NS}
    acme = get(client, "acme", "/api/v1/stats", group_by="model", kind="llm", **window).json()
    # Models are grouped by genai-prices' canonical name.
    want = {"gpt-4o": 2, "claude-3-5-haiku-latest": 2}
    assert {g["group"]: g["count"] for g in acme["groups"]} == want
    assert sum(g["cost_usd"] for g in acme["groups"]) == pytest.approx(0.04)
    assert acme["groups"][0]["p50_ms"] == pytest.approx(700, rel=0.02)
    by_tenant = get(client, "admin", "/api/v1/stats", group_by="tenant", kind="llm", **window)
    assert {g["group"]: g["count"] for g in by_tenant.json()["groups"]} == {"acme": 4, "globex": 2}
    mine = get(client, "globex", "/api/v1/stats", group_by="tenant", **window).json()["groups"]
    assert [g["group"] for g in mine] == ["globex"]
    assert get(client, "globex", "/api/v1/stats", tenant="acme").status_code == 403


def test_stats_answer_the_costliest_groups_and_count_the_rest(client: TestClient) -> None:
    window = {"start": T0, "end": T0 + HOUR_NS}
    every = get(client, "acme", "/api/v1/stats", group_by="model", **window).json()
    top = get(client, "acme", "/api/v1/stats", group_by="model", limit="1", **window).json()
    assert top["groups"] == every["groups"][:1] and every["more_groups"] == 0
    assert top["more_groups"] == len(every["groups"]) - 1 >= 1


def test_stats_by_user_and_by_hour(client: TestClient) -> None:
    window = {"start": T0, "end": T0 + HOUR_NS}
    users = get(client, "acme", "/api/v1/stats", group_by="user", **window).json()["groups"]
    assert users == [
        {
            "group": "alice",
            "count": 4,
            "errors": 0,
            "input_tokens": 4800,
            "output_tokens": 1200,
            "cache_read_tokens": 0,
            "cost_usd": pytest.approx(0.04),
            "p50_ms": None,
            "p95_ms": None,
            "p99_ms": None,
        }
    ]
    hours = get(client, "acme", "/api/v1/stats", group_by="hour", **window).json()["groups"]
    assert [(g["group"], g["count"]) for g in hours] == [(T0 // 10**9, 16)]


CURSOR_PAST_64_BITS = base64.urlsafe_b64encode(b"[" + b"9" * 30 + b', "acme", "00"]').decode()
CURSOR_WITH_SURROGATE = base64.urlsafe_b64encode(b'[1, "\\ud800", "00"]').decode()


@pytest.mark.parametrize(
    ("url", "params", "parameter"),
    [
        ("/api/v1/traces", {"limit": "ten"}, "limit"),
        ("/api/v1/traces", {"limit": "0"}, "limit"),
        ("/api/v1/traces", {"min_cost": "-1"}, "min_cost"),
        ("/api/v1/traces", {"status": "broken"}, "status"),
        ("/api/v1/traces", {"start": "yesterday"}, "start"),
        ("/api/v1/traces", {"start": "--5"}, "start"),
        ("/api/v1/traces", {"end": "²"}, "end"),  # a digit to isdigit(), not to int()
        ("/api/v1/traces", {"cursor": "garbage"}, "cursor"),
        ("/api/v1/traces", {"colour": "red"}, "colour"),
        ("/api/v1/traces/not-a-trace-id", {}, "trace_id"),
        (f"/api/v1/traces/{trace_id(1)}", {"limit": "2001"}, "limit"),
        (f"/api/v1/traces/{trace_id(1)}", {"limit": "0"}, "limit"),
        (f"/api/v1/traces/{trace_id(1)}", {"offset": "-1"}, "offset"),
        (f"/api/v1/traces/{trace_id(1)}", {"offset": str(2**64)}, "offset"),
        ("/api/v1/stats", {"group_by": "colour"}, "group_by"),
        ("/api/v1/stats", {"limit": "10001"}, "limit"),
        ("/api/v1/stats", {"kind": "bogus"}, "kind"),  # was 200 with no groups
        (
            "/api/v1/stats",
            {"group_by": "minute", "start": str(T0), "end": str(T0 + 8 * 86_400 * 10**9)},
            "start",
        ),
        ("/api/v1/stats", {"start": "2026-09-21T14:00:00"}, "start"),
        ("/api/v1/stats", {"start": str(T0), "end": str(T0)}, "end"),
        ("/api/v1/sampling", {"start": str(T0), "end": str(T0)}, "end"),
        ("/api/v1/sampling", {"end": "soon"}, "end"),
        ("/api/v1/sampling", {"group_by": "hour"}, "group_by"),
        # Once 500s: integers past 64 bits, NaN passing every comparison, a cursor from nowhere.
        ("/api/v1/traces", {"start": "9" * 30}, "start"),
        ("/api/v1/traces", {"end": "-1"}, "end"),
        ("/api/v1/traces", {"start": "9999-12-31T23:59:59+00:00"}, "start"),
        ("/api/v1/stats", {"end": str(2**63)}, "end"),
        ("/api/v1/sampling", {"start": "9" * 30}, "start"),
        ("/api/v1/traces", {"min_cost": "nan"}, "min_cost"),
        ("/api/v1/traces", {"min_duration_ms": "inf"}, "min_duration_ms"),
        ("/api/v1/traces", {"cursor": CURSOR_PAST_64_BITS}, "cursor"),
        ("/api/v1/traces", {"cursor": CURSOR_WITH_SURROGATE}, "cursor"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_parameter(
    client: TestClient, url: str, params: dict[str, str], parameter: str
) -> None:
    response = get(client, "acme", url, **params)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert parameter in response.json()["error"]


def test_without_a_principal_every_route_answers_401(client: TestClient) -> None:
    urls = ("/api/v1/traces", f"/api/v1/traces/{trace_id(0)}", "/api/v1/stats", "/api/v1/sampling")
    for url in urls:
        assert client.get(url).status_code == 401


@pytest.fixture
def sampled(store: Store) -> TestClient:
    """acme: tail sampling keeps its 2 failed traces of 5; globex: head rate 0 drops 3 of 3."""
    tail = SamplingConfig.model_validate(
        {"tail_enabled": True, "decision_wait_s": 1, "policies": [{"type": "error"}]}
    )
    sink = SamplingSink(store, tail)
    for n in range(5):
        status = "error" if n < 2 else "ok"
        sink.write(llm_trace(n, T0, tenant="acme", status=status), T0)
    assert TailDecider(store, tail).run_once(T0 + 60 * 10**9).kept == 2
    head = SamplingSink(store, SamplingConfig(head_rate=0.0))
    for n in range(10, 13):
        head.write(llm_trace(n, T0, tenant="globex"), T0)
    app = Starlette(routes=routes(store), middleware=[Middleware(FakeAuth)])
    return TestClient(app)


def test_sampling_counts_kept_and_dropped_traces_per_policy_for_the_callers_tenant(
    sampled: TestClient,
) -> None:
    window = {"start": str(T0 - HOUR_NS), "end": str(T0 + HOUR_NS)}
    acme = get(sampled, "acme", "/api/v1/sampling", **window).json()
    assert (acme["kept"], acme["dropped"]) == (2, 3)
    assert acme["policies"] == [
        {"policy": "", "kept": 0, "dropped": 3},
        {"policy": "error", "kept": 2, "dropped": 0},
    ]
    globex = get(sampled, "globex", "/api/v1/sampling", **window).json()
    assert globex["policies"] == [{"policy": "head", "kept": 0, "dropped": 3}]
    assert get(sampled, "acme", "/api/v1/sampling", tenant="globex").status_code == 403
    everyone = get(sampled, "admin", "/api/v1/sampling", **window).json()
    assert (everyone["kept"], everyone["dropped"]) == (2, 6)
    narrowed = get(sampled, "admin", "/api/v1/sampling", tenant="globex", **window).json()
    assert narrowed["policies"] == globex["policies"]
    later = {"start": str(T0 + 2 * HOUR_NS), "end": str(T0 + 3 * HOUR_NS)}
    assert get(sampled, "acme", "/api/v1/sampling", **later).json()["policies"] == []
