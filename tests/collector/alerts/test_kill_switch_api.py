"""POST /api/v1/kill-switches: what the body may hold, on both stores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.testclient import TestClient

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
    ],
)
def test_a_body_that_is_no_switch_is_a_400(client: TestClient, body: bytes) -> None:
    answer = post(client, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_text_is_stored_as_ingest_stores_it(client: TestClient, any_store: Store) -> None:
    # PostgreSQL refuses a NUL in any text (a 500); ingest stores one as U+FFFD.
    switch = {"tenant": "ac\x00me", "stage": "gen\x00erate", "reason": "over\x00spent"}
    answer = post(client, json.dumps(switch).encode())
    assert answer.status_code == 200, answer.text
    stored = {"tenant": "ac\ufffdme", "stage": "gen\ufffderate", "reason": "over\ufffdspent"}
    assert answer.json() == stored
    [listed] = list_switches(any_store.engine)
    assert {k: listed[k] for k in stored} == stored


def test_a_body_past_64_kb_is_a_413_chunked_or_not(client: TestClient) -> None:
    big = json.dumps({"tenant": "acme", "reason": "r" * 70_000}).encode()
    chunked = (big[i : i + 8192] for i in range(0, len(big), 8192))  # no content-length
    for body in (big, chunked):
        answer = client.post("/api/v1/kill-switches", content=body)
        assert (answer.status_code, answer.json()) == (413, {"error": "body over 65536 bytes"})
