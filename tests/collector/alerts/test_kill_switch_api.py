"""/api/v1/kill-switches: what a body may hold, how many a tenant may set, the pages; both
stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.testclient import TestClient

from glassline.collector.alerts import kill_switch
from glassline.collector.alerts.kill_switch import list_switches, routes
from glassline.collector.storage import Store


@dataclass(frozen=True)
class Principal:
    tenant: str
    is_admin: bool


class AdminAuth(BaseHTTPMiddleware):
    async def dispatch(self, request: Any, call_next: Any) -> Any:
        request.state.principal = Principal("ops", is_admin=True)
        return await call_next(request)


@pytest.fixture
def client(any_store: Store) -> TestClient:
    app = Starlette(routes=routes(any_store.engine), middleware=[Middleware(AdminAuth)])
    return TestClient(app)


def post(client: TestClient, body: bytes) -> Any:
    return client.post(
        "/api/v1/kill-switches", content=body, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 3000 + b"]" * 3000,  # was a 500: the JSON parser's recursion limit
        b"not json",
        b'{"tenant": "\xff"}',
        b'["acme"]',
        json.dumps({"tenant": 5}).encode(),  # was stored as a number
        json.dumps({"tenant": "acme", "stage": ["a"]}).encode(),
        json.dumps({"tenant": "t" * 129}).encode(),  # was a 500 on PostgreSQL: varchar(128)
        json.dumps({"tenant": "acme", "stage": "s" * 257}).encode(),
        json.dumps({"tenant": "acme", "reason": "r" * 1001}).encode(),  # 64 KB each was taken
    ],
)
def test_a_body_that_is_no_switch_is_a_400(client: TestClient, body: bytes) -> None:
    answer = post(client, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize("stage", ["", " "])
def test_a_blank_stage_is_refused_not_taken_for_the_whole_tenant(
    client: TestClient, any_store: Store, stage: str
) -> None:
    # An unset shell variable in '{"stage": "$STAGE"}' stopped (or resumed) the whole tenant.
    assert post(client, json.dumps({"tenant": "acme", "stage": "generate"}).encode()).is_success
    assert post(client, json.dumps({"tenant": "acme"}).encode()).is_success
    refused = post(client, json.dumps({"tenant": "acme", "stage": stage}).encode())
    assert refused.status_code == 400 and refused.json()["parameter"] == "stage"
    kept = client.delete("/api/v1/kill-switches", params={"tenant": "acme", "stage": stage})
    assert kept.status_code == 400 and "leave it out" in kept.json()["error"]
    listed, _ = list_switches(any_store.engine)
    assert [(s["tenant"], s["stage"]) for s in listed] == [("acme", None), ("acme", "generate")]


def test_text_is_stored_as_ingest_stores_it(client: TestClient, any_store: Store) -> None:
    # PostgreSQL refuses a NUL in any text (a 500); ingest stores one as U+FFFD.
    switch = {"tenant": "ac\x00me", "stage": "gen\x00erate", "reason": "over\x00spent"}
    answer = post(client, json.dumps(switch).encode())
    assert answer.status_code == 200, answer.text
    stored = {"tenant": "ac\ufffdme", "stage": "gen\ufffderate", "reason": "over\ufffdspent"}
    assert answer.json() == stored
    [listed], _ = list_switches(any_store.engine)
    assert {k: listed[k] for k in stored} == stored


def test_a_body_past_64_kb_is_a_413_chunked_or_not(client: TestClient) -> None:
    big = json.dumps({"tenant": "acme", "reason": "r" * 70_000}).encode()
    chunked = (big[i : i + 8192] for i in range(0, len(big), 8192))  # no content-length
    for body in (big, chunked):
        answer = client.post("/api/v1/kill-switches", content=body)
        assert (answer.status_code, answer.json()) == (413, {"error": "body over 65536 bytes"})


def test_a_tenant_holds_a_bounded_number_of_switches(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key setting switches in a loop made GET answer 16 MB (3,000 with 5 KB reasons).
    monkeypatch.setattr(kill_switch, "MAX_PER_TENANT", 3)
    for stage in ("a", "b", "c"):
        assert post(client, json.dumps({"tenant": "acme", "stage": stage}).encode()).is_success
    full = post(client, json.dumps({"tenant": "acme", "stage": "d"}).encode())
    assert full.status_code == 409 and "clear one first" in full.json()["error"]
    again = post(client, json.dumps({"tenant": "acme", "stage": "a", "reason": "new"}).encode())
    assert again.status_code == 200  # a switch already set is updated
    assert post(client, json.dumps({"tenant": "globex", "stage": "d"}).encode()).is_success


def test_the_list_comes_in_pages_each_cursor_leading_to_the_next(client: TestClient) -> None:
    set_ = {(tenant, stage) for tenant in ("acme", "globex") for stage in ("", "a", "b")}
    for tenant, stage in set_:
        switch = {"tenant": tenant, **({"stage": stage} if stage else {})}
        assert post(client, json.dumps(switch).encode()).is_success
    seen, cursor, pages = [], None, 0
    while pages == 0 or cursor is not None:
        params = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        answer = client.get("/api/v1/kill-switches", params=params).json()
        seen += [(s["tenant"], s["stage"] or "") for s in answer["kill_switches"]]
        cursor, pages = answer["next_cursor"], pages + 1
    assert pages == 2 and sorted(seen) == seen and set(seen) == set_


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"cursor": "x"},
     {"cursor": "WzEsIDJd"}, {"cursor": "W1tbW1tb"}],
)  # fmt: skip
def test_a_bad_limit_or_cursor_is_a_400(client: TestClient, params: dict[str, str]) -> None:
    answer = client.get("/api/v1/kill-switches", params=params)
    assert answer.status_code == 400, answer.text
