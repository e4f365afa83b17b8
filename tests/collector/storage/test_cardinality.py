"""A bound on a rollup dimension's distinct values: an app's request ids in its stage names
fold into one "(other)" row instead of a row per span; totals stay exact."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from sqlalchemy import func, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.cardinality import OTHER, CardinalityLimit
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.models import Rollup, Span
from glassline.collector.testing import run_collector

from ..conftest import kv, make_request

HOUR_NS = 3_600 * 10**9
T0 = 1_796_000_000 * 10**9 // HOUR_NS * HOUR_NS  # the start of an hour


def call(stage: str, *, tenant: str = "acme", at: int = T0, n: int = 0) -> SpanRecord:
    return SpanRecord(
        tenant=tenant, trace_id=f"{n:032x}", span_id=f"{n:016x}", name="chat",
        start_ns=at, end_ns=at + 10**8, kind="llm", stage=stage, model="gpt-4o", cost_usd=0.01,
    )  # fmt: skip


def limit(values: int, max_sets: int = 512) -> CardinalityLimit:
    return CardinalityLimit(values, max_sets)


def stages(bound: CardinalityLimit, spans: list[SpanRecord]) -> list[str]:
    return [bound.dims(span)[2] for span in spans]


def test_values_past_the_limit_fold_into_other_and_known_ones_pass() -> None:
    bound = limit(3)
    spans = [call(f"s{n}") for n in range(5)] + [call("s1"), call("")]
    assert stages(bound, spans) == ["s0", "s1", "s2", OTHER, OTHER, "s1", ""]
    assert bound.dims(call("s9"))[3] == "gpt-4o"  # the model has values to spare


def test_the_limit_is_per_tenant_and_per_hour() -> None:
    bound = limit(1)
    assert stages(bound, [call("a"), call("b"), call("b", tenant="zeta")]) == ["a", OTHER, "b"]
    assert stages(bound, [call("b", at=T0 + HOUR_NS), call("c", at=T0 + HOUR_NS)]) == ["b", OTHER]


def test_only_the_latest_sets_are_kept() -> None:
    bound = limit(1, max_sets=2)
    bound.dims(call("a"))  # two sets: stage and model of this hour
    bound.dims(call("b", at=T0 + HOUR_NS))  # two more: this hour's are dropped
    assert stages(bound, [call("c")]) == ["c"]


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    opened = Store.open(StorageConfig(url=any_store_url, max_dimension_values=3))
    yield opened
    opened.close()


def test_a_store_rolls_up_a_tenants_excess_stages_as_other_and_keeps_every_span_its_own(
    store: Store,
) -> None:
    # 50,000 stages of their own made a rollup row per span; every stats query read them all.
    store.write([call(f"generate-{n}", n=n) for n in range(10)])
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(Rollup.stage, func.sum(Rollup.count)).group_by(Rollup.stage)
        ).all()
        kept = conn.scalar(select(func.count(func.distinct(Span.stage))))
    assert sorted(rows) == [(OTHER, 7), ("generate-0", 1), ("generate-1", 1), ("generate-2", 1)]
    assert kept == 10


def test_a_tenants_bound_holds_while_hundreds_of_other_tenants_write_in_the_same_hour(
    tmp_path: Path,
) -> None:
    # Each tenant writing in an hour takes three sets (stage, model, API key). The bound kept
    # 512 sets: with ~170 tenants active, the hour's own sets were forgotten and a runaway
    # tenant's stages counted from zero again (600 tenants: 2,000 stages under a bound of 1,000).
    others = [f"tenant-{n:03d}" for n in range(200)]
    config = {"storage": {"max_dimension_values": 3}, "redaction": None}
    at = time.time_ns() // HOUR_NS * HOUR_NS  # every span in the same, current, hour
    with (
        run_collector(config, tenants=("runaway", *others), workdir=tmp_path) as collector,
        httpx.Client(timeout=30) as client,
    ):

        def send(tenant: str, *stages: str) -> None:
            spans = [_stage_span(stage, at) for stage in stages]
            response = client.post(
                f"{collector.http_endpoint}/v1/traces",
                content=make_request(*spans).SerializeToString(),
                headers={**collector.headers(tenant), "content-type": "application/x-protobuf"},
            )
            assert response.status_code == 200, response.text

        send("runaway", "req-0", "req-1", "req-2")  # the bound's three values
        for tenant in others:
            send(tenant, "answer")
        send("runaway", "req-3", "req-4", "req-5")
        response = client.get(
            f"{collector.http_endpoint}/api/v1/stats",
            params={"group_by": "stage", "start": at, "end": at + HOUR_NS},
            headers=collector.headers("runaway"),
        )
    response.raise_for_status()
    counts = {row["group"]: row["count"] for row in response.json()["groups"]}
    assert counts == {"req-0": 1, "req-1": 1, "req-2": 1, OTHER: 3}


def _stage_span(stage: str, at: int) -> OtlpSpan:
    return OtlpSpan(
        trace_id=os.urandom(16), span_id=os.urandom(8), name="chat", kind=OtlpSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=at, end_time_unix_nano=at + 10**8,
        attributes=[kv("gen_ai.request.model", "gpt-4o"), kv("glassline.stage", stage)],
    )  # fmt: skip
