"""After-the-fact feedback: POST /api/v1/evaluations lands on the right trace, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.testclient import TestClient

from glassline.collector.evaluations import EvaluationIntake, evaluation_from_log, routes
from glassline.collector.storage import Store
from glassline.collector.storage.models import EvaluationRollup
from glassline.collector.storage.testing import llm_trace
from glassline.redaction import Redactor
from glassline.semconv import attributes as attrs

T0 = 1_790_000_000 * 1_000_000_000


@dataclass(frozen=True)
class Principal:
    tenant: str
    is_admin: bool = False


class FakeAuth(BaseHTTPMiddleware):
    """Stands in for the server's auth: the test names the caller in a header."""

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        who = request.headers.get("x-test-caller")
        if who:
            request.state.principal = Principal(who)
        return await call_next(request)


def trace_id(n: int) -> str:
    return f"{n + 1:032x}"


@pytest.fixture
def client(store: Store) -> TestClient:
    for n in range(3):
        spans = llm_trace(n, T0 + n * 10**9, model="gpt-4o" if n else "claude-3-5-haiku")
        llm = next(s for s in spans if s.kind == "llm")
        llm.attributes[attrs.GEN_AI_RESPONSE_ID] = f"chatcmpl-{n}"
        llm.attributes[attrs.PROMPT_VERSION] = f"v{n}"
        store.write(spans)
    app = Starlette(routes=routes(store, EvaluationIntake(store, None)),
                    middleware=[Middleware(FakeAuth)])  # fmt: skip
    return TestClient(app)


def post(client: TestClient, caller: str, **body: Any) -> Any:
    return client.post("/api/v1/evaluations", json=body, headers={"x-test-caller": caller})


def test_thumbs_down_by_trace_id_lands_on_the_traces_model_call(client: TestClient) -> None:
    answer = post(client, "acme", id="fb-1", name="user_feedback", trace_id=trace_id(1),
                  label="thumbs_down", value=0, time=T0 + 3 * 3600 * 10**9)  # fmt: skip
    assert answer.status_code == 201, answer.text
    stored = answer.json()["evaluation"]
    assert stored["trace_id"] == trace_id(1)
    assert stored["span_id"] == "0000000000000203"  # the llm span of llm_trace(1)
    assert (stored["model"], stored["prompt_version"], stored["source"]) == ("gpt-4o", "v1", "api")
    listed = client.get("/api/v1/evaluations", params={"trace_id": trace_id(1)},
                        headers={"x-test-caller": "acme"}).json()["evaluations"]  # fmt: skip
    assert [e["id"] for e in listed] == ["fb-1"]


def test_feedback_by_response_id_finds_its_trace(client: TestClient) -> None:
    answer = post(client, "acme", id="fb-2", name="user_feedback", response_id="chatcmpl-2",
                  label="thumbs_up", time=T0 + 3600 * 10**9)  # fmt: skip
    assert answer.status_code == 201
    assert answer.json()["evaluation"]["trace_id"] == trace_id(2)


def test_a_resent_feedback_is_stored_and_counted_once(client: TestClient, store: Store) -> None:
    first = post(client, "acme", id="fb-3", name="user_feedback", trace_id=trace_id(0), value=1)
    again = post(client, "acme", id="fb-3", name="user_feedback", trace_id=trace_id(0), value=1)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"evaluation": first.json()["evaluation"], "created": False}
    with store.session() as s:
        assert s.scalar(select(func.sum(EvaluationRollup.count))) == 1


def test_another_tenant_neither_sees_nor_links_to_the_trace(client: TestClient) -> None:
    post(client, "acme", id="fb-4", name="user_feedback", trace_id=trace_id(0), value=1)
    theirs = post(client, "globex", id="fb-4", name="user_feedback", trace_id=trace_id(0), value=0)
    assert theirs.status_code == 201  # their own id space; no span of theirs to link to
    assert "span_id" not in theirs.json()["evaluation"]
    listed = client.get("/api/v1/evaluations", params={"trace_id": trace_id(0)},
                        headers={"x-test-caller": "globex"}).json()["evaluations"]  # fmt: skip
    assert [(e["id"], e["score_value"]) for e in listed] == [("fb-4", 0.0)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "f", "trace_id": "a" * 32, "value": 1}, "id"),
        ({"id": "x", "trace_id": "a" * 32, "value": 1}, "name"),
        ({"id": "x", "name": "f", "trace_id": "xyz", "value": 1}, "trace_id"),
        ({"id": "x", "name": "f", "value": 1}, "trace_id"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32}, "value"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": "high"}, "value"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1, "span_id": "1"}, "span_id"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1, "time": "yesterday"}, "time"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1, "scroe": 1}, "scroe"),
        ({"id": "", "name": "f", "trace_id": "a" * 32, "value": 1}, "id"),
        # Summed in stats (1e308 twice is no sum) and kept in 64-bit nanoseconds: were 500s.
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1e308}, "value"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1, "time": 2**80}, "time"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1, "time": -1}, "time"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1,
          "time": "9999-12-31T23:59:59Z"}, "time"),
        ({"id": "x", "name": "f", "trace_id": "a" * 32, "value": 1,
          "time": "0001-01-01T00:00:00Z"}, "time"),
    ],
)  # fmt: skip
def test_bad_feedback_is_answered_400_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/api/v1/evaluations", json=body, headers={"x-test-caller": "acme"})
    assert answer.status_code == 400
    assert answer.json()["parameter"] == field
    assert answer.json()["error"].startswith(field)


def test_unauthenticated_and_non_json_posts_are_refused(client: TestClient) -> None:
    assert client.post("/api/v1/evaluations", json={}).status_code == 401
    for body in (b"{", b"[" * 3000 + b"]" * 3000, b'{"id": "\xff"}'):  # deep, not UTF-8
        answer = client.post("/api/v1/evaluations", content=body, headers={"x-test-caller": "a"})
        assert answer.status_code == 400, body[:20]
        assert answer.json()["error"] == "body is not JSON"


def test_the_intake_redacts_explanations_and_stamps_the_callers_tenant(store: Store) -> None:
    intake = EvaluationIntake(store, Redactor())
    record = evaluation_from_log(
        "someone-else",
        {attrs.GEN_AI_EVALUATION_NAME: "judge", attrs.GEN_AI_EVALUATION_SCORE_VALUE: 0.2,
         attrs.GEN_AI_EVALUATION_EXPLANATION: "the user jane.doe@example.com was wrong"},
        time_ns=T0, trace_id=trace_id(7), span_id="00000000000008ff",
    )  # fmt: skip
    assert record is not None
    [stored] = intake.consume(Principal("acme"), [record, record])
    assert stored.tenant == "acme"
    assert stored.explanation is not None and "jane.doe@example.com" not in stored.explanation
    assert intake.consume(Principal("acme"), [record]) == []  # a resent log record


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"trace_id": "xyz"}, "trace_id"),
        ({"name": "f", "start": "yesterday"}, "start"),
        ({"name": "f", "end": "1.5"}, "end"),
        # Past 64 bits of nanoseconds: the query's overflow was a 500 on both databases.
        ({"name": "f", "start": "9" * 40}, "start"),
        ({"name": "f", "end": str(2**63)}, "end"),
        ({"name": "f", "start": "9999-12-31T23:59:59Z"}, "start"),
        ({"trace_id": "a" * 32, "limit": "many"}, "limit"),
        ({"trace_id": "a" * 32, "limit": "0"}, "limit"),
        ({}, "trace_id"),
        ({"trace": "a" * 32}, "trace"),
    ],
)
def test_a_bad_listing_parameter_is_named(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    answer = client.get("/api/v1/evaluations", params=params, headers={"x-test-caller": "acme"})
    assert answer.status_code == 400
    assert answer.json()["parameter"] == field


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"name": "f", "start": "9" * 40}, "start"),
        ({"name": "f", "end": str(-(2**63) - 1)}, "end"),
        ({"name": "f", "end": "tomorrow"}, "end"),
        ({"name": "f", "group_by": "colour"}, "group_by"),
        ({}, "name"),
    ],
)
def test_a_bad_stats_parameter_is_named(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    answer = client.get(
        "/api/v1/evaluations/stats", params=params, headers={"x-test-caller": "acme"}
    )
    assert answer.status_code == 400
    assert answer.json()["parameter"] == field


def test_feedback_text_is_stored_as_ingest_stores_text(client: TestClient) -> None:
    # PostgreSQL refuses a NUL in any text (a 500 there); ingest stores one as U+FFFD.
    sent = post(client, "acme", id="fb\x001", name="jud\x00ge", trace_id=trace_id(1), value=1,
                label="go\x00od", explanation="fine\x00", response_id="chat\x00cmpl")  # fmt: skip
    assert sent.status_code == 201, sent.text
    listed = client.get(
        "/api/v1/evaluations", params={"trace_id": trace_id(1)}, headers={"x-test-caller": "acme"}
    )
    [stored] = listed.json()["evaluations"]
    texts = {k: stored[k] for k in ("id", "name", "score_label", "explanation", "response_id")}
    assert texts == {"id": "fb\ufffd1", "name": "jud\ufffdge", "score_label": "go\ufffdod",
                     "explanation": "fine\ufffd", "response_id": "chat\ufffdcmpl"}  # fmt: skip


def test_stats_per_prompt_version_from_the_rollups(client: TestClient) -> None:
    for n, value in ((0, 1.0), (1, 0.0), (2, 0.5)):
        post(client, "acme", id=f"s-{n}", name="judge", trace_id=trace_id(n), value=value,
             label="pass" if value else "fail", time=T0 + 3600 * 10**9)  # fmt: skip
    params = {"name": "judge", "group_by": "prompt_version", "start": str(T0),
              "end": str(T0 + 2 * 3600 * 10**9)}  # fmt: skip
    body = client.get("/api/v1/evaluations/stats", params=params,
                      headers={"x-test-caller": "acme"}).json()  # fmt: skip
    assert [(g["prompt_version"], g["count"], g["mean"], g["pass_rate"]) for g in body["groups"]] == [
        ("v0", 1, 1.0, 1.0), ("v1", 1, 0.0, 0.0), ("v2", 1, 0.5, 1.0),
    ]  # fmt: skip
    other = client.get("/api/v1/evaluations/stats", params=params,
                       headers={"x-test-caller": "globex"}).json()  # fmt: skip
    assert other["groups"] == []
    bad = client.get("/api/v1/evaluations/stats", params={"name": "judge", "group_by": "route"},
                     headers={"x-test-caller": "acme"})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["parameter"] == "group_by"


def test_a_body_past_64_kb_is_a_413_chunked_or_not(client: TestClient) -> None:
    big = b'{"id": "e1", "name": "judge", "explanation": "' + b"x" * 70_000 + b'"}'
    chunked = (big[i : i + 8192] for i in range(0, len(big), 8192))  # no content-length
    for body in (big, chunked):
        answer = client.post("/api/v1/evaluations", content=body, headers={"x-test-caller": "acme"})
        assert (answer.status_code, answer.json()["error"]) == (413, "body over 65536 bytes")
