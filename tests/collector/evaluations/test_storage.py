"""Evaluation events become stored evaluations once, rolled up before sampling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from glassline.collector.processors.evaluations import EvaluationsProcessor
from glassline.collector.records import EvaluationRecord, SpanEvent, SpanRecord
from glassline.collector.sampling import SamplingSink
from glassline.collector.sampling.config import SamplingConfig
from glassline.collector.storage import Store, expiry, quality
from glassline.collector.storage.models import Evaluation, EvaluationRollup
from glassline.collector.storage.testing import llm_trace, work_done
from glassline.semconv import attributes as attrs

T0 = 1_790_000_000 * 1_000_000_000


def judged_trace(n: int, score: float, *, tenant: str = "acme", label: str = "pass",
                 version: str = "v7") -> list[SpanRecord]:  # fmt: skip
    spans = llm_trace(n, T0 + n * 10**9, tenant=tenant)
    llm = next(s for s in spans if s.kind == "llm")
    llm.attributes.update({attrs.PROMPT_NAME: "support-answer", attrs.PROMPT_VERSION: version,
                           attrs.GEN_AI_RESPONSE_ID: f"resp-{n}"})  # fmt: skip
    llm.resource[attrs.SERVICE_VERSION] = "1.4.2"
    llm.events.append(
        SpanEvent(
            attrs.GEN_AI_EVALUATION_RESULT,
            llm.end_ns,
            {
                attrs.GEN_AI_EVALUATION_NAME: "relevance",
                attrs.GEN_AI_EVALUATION_SCORE_VALUE: score,
                attrs.GEN_AI_EVALUATION_SCORE_LABEL: label,
                attrs.GEN_AI_EVALUATION_EXPLANATION: "on topic",
            },
        )
    )
    return EvaluationsProcessor().process(spans)


def test_an_evaluation_event_becomes_a_record_with_its_spans_dimensions() -> None:
    spans = judged_trace(1, 0.8)
    llm = next(s for s in spans if s.kind == "llm")
    [record] = llm.evaluations
    assert (record.name, record.score_value, record.score_label) == ("relevance", 0.8, "pass")
    assert (record.trace_id, record.span_id, record.response_id) == (
        llm.trace_id, llm.span_id, "resp-1",
    )  # fmt: skip
    assert (record.stage, record.model, record.prompt_name, record.prompt_version) == (
        "generate", "gpt-4o-mini", "support-answer", "v7",
    )  # fmt: skip
    assert record.service_version == "1.4.2"
    assert record.explanation == "on topic"
    assert all(not s.evaluations for s in spans if s is not llm)


def test_events_without_a_name_or_of_another_kind_are_not_evaluations() -> None:
    span = llm_trace(1, T0)[0]
    span.events = [
        SpanEvent(attrs.GEN_AI_EVALUATION_RESULT, T0, {attrs.GEN_AI_EVALUATION_SCORE_VALUE: 1}),
        SpanEvent("exception", T0, {attrs.GEN_AI_EVALUATION_NAME: "x"}),
        SpanEvent(attrs.GEN_AI_EVALUATION_RESULT, T0, {attrs.GEN_AI_EVALUATION_NAME: "ok",
                                                      attrs.GEN_AI_EVALUATION_SCORE_VALUE: "nan"}),
    ]  # fmt: skip
    [record] = EvaluationsProcessor().process([span])[0].evaluations
    assert (record.name, record.score_value) == ("ok", None)


def test_a_score_too_large_to_sum_is_no_score(store: Store) -> None:
    # 1e308 twice summed to infinity in the rollup, and the stats could not be answered.
    store.write([*judged_trace(1, 1e308), *judged_trace(2, 1e308), *judged_trace(3, 0.5)])
    [(_, _, count, value_sum, passed, labelled)] = _rollup(store)
    assert (count, value_sum, passed, labelled) == (3, 0.5, 3, 3), _rollup(store)


def _rollup(store: Store) -> list[tuple[object, ...]]:
    with store.session() as s:
        rows = s.execute(
            select(EvaluationRollup.tenant, EvaluationRollup.prompt_version,
                   func.sum(EvaluationRollup.count), func.sum(EvaluationRollup.value_sum),
                   func.sum(EvaluationRollup.passed), func.sum(EvaluationRollup.labelled))
            .group_by(EvaluationRollup.tenant, EvaluationRollup.prompt_version)
            .order_by(EvaluationRollup.tenant, EvaluationRollup.prompt_version)
        )  # fmt: skip
        return [tuple(r) for r in rows]


def test_a_resent_span_stores_and_counts_its_evaluation_once(store: Store) -> None:
    store.write(judged_trace(1, 0.5) + judged_trace(2, 1.0, label="fail", version="v8"))
    store.write(judged_trace(1, 0.5))  # a client retry
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Evaluation)) == 2
    assert _rollup(store) == [("acme", "v7", 1, 0.5, 1, 1), ("acme", "v8", 1, 1.0, 0, 1)]


def test_evaluations_of_sampled_out_spans_are_stored_and_counted(store: Store) -> None:
    sink = SamplingSink(store, SamplingConfig(head_rate=0.0))
    result = sink.write(judged_trace(1, 0.25))
    assert result.inserted == 0 and result.sampled_out == 4
    with store.session() as s:
        [row] = s.scalars(select(Evaluation)).all()
    assert (row.name, row.score_value, row.trace_id) == ("relevance", 0.25, f"{2:032x}")
    assert _rollup(store) == [("acme", "v7", 1, 0.25, 1, 1)]
    sink.write(judged_trace(1, 0.25))  # resent: counted-only spans are deduplicated too
    assert _rollup(store) == [("acme", "v7", 1, 0.25, 1, 1)]


def test_evaluations_are_kept_apart_by_tenant(store: Store) -> None:
    store.write(judged_trace(1, 0.5, tenant="acme") + judged_trace(1, 0.9, tenant="globex"))
    assert [r[:2] for r in _rollup(store)] == [("acme", "v7"), ("globex", "v7")]


def test_purge_deletes_old_evaluations_and_their_rollups(store: Store) -> None:
    store.write(judged_trace(1, 0.5))
    counts = store.purge(now_ns=T0 + 400 * 86_400 * 10**9)
    assert counts["evaluations"] == 1 and counts["evaluation_rollups"] == 1


def test_a_numbered_prompt_version_is_one_version_with_its_text() -> None:
    spans = judged_trace(1, 0.5)
    llm = next(s for s in spans if s.kind == "llm")
    llm.evaluations.clear()
    llm.attributes[attrs.PROMPT_VERSION] = 7  # Langfuse numbers its versions
    [record] = EvaluationsProcessor().process([llm])[0].evaluations
    assert record.prompt_version == "7"


def _judged(first: int, count: int, at_ns: int, tenant: str = "acme") -> list[EvaluationRecord]:
    return [
        EvaluationRecord(tenant=tenant, id=f"e{n}", name="judge", time_ns=at_ns + n,
                         source="api", trace_id=f"{n:032x}", score_value=n % 10 / 10)
        for n in range(first, first + count)
    ]  # fmt: skip


def _work(store: Store, read: Callable[[Connection], Any]) -> int:
    with store.engine.connect() as conn, conn.begin() as transaction:
        with work_done(conn, "evaluations") as work:
            read(conn)
        transaction.rollback()  # a probe: nothing it deletes stays deleted
    return work[0]


@pytest.mark.parametrize(
    "read",
    [
        # Retention, each pass, whether or not any evaluation expired (under the write lock).
        lambda conn: expiry.delete_some(
            conn, Evaluation.__table__, Evaluation.time_ns < T0, expiry.PURGE_ROWS
        ),
        # The dashboard's lowest-scored evaluations of a name, for an admin (every tenant).
        lambda conn: quality.worst_evaluations(conn, T0 // 10**9, T0 // 10**9 + 60, "judge"),
    ],
    ids=["retention", "admin-window"],
)
def test_reads_by_time_alone_read_no_more_as_evaluations_pile_up(
    store: Store, read: Callable[[Connection], Any]
) -> None:
    # Without an index on time_ns both read every evaluation stored.
    store.write_evaluations(_judged(0, 20, T0) + _judged(20, 20, T0, tenant="globex"))
    few = _work(store, read)
    store.write_evaluations(_judged(1000, 2000, T0 + 3600 * 10**9))  # later, kept
    many = _work(store, read)
    assert many <= few + 2
