"""The collector's redact step: spans leave it with no PII, with counts, never with raw values."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from glassline.collector.auth import Principal
from glassline.collector.metrics import Metrics
from glassline.collector.pipeline import Pipeline
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.processors.redact import (
    ENTITIES_ATTRIBUTE,
    FAILED_ENTITY,
    RedactProcessor,
)
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.testing import DEFAULT_POSTGRES_URL, isolated_postgres_url
from glassline.redaction import FAILED_TOKEN, RedactionConfig
from glassline.semconv import attributes as attrs
from tests.redaction.corpus import generate_corpus, to_attributes


@pytest.fixture(scope="module")
def processor() -> RedactProcessor:
    return RedactProcessor(RedactionConfig())


def _span(i: int = 0, **fields: Any) -> SpanRecord:
    base: dict[str, Any] = {
        "tenant": "acme",
        "trace_id": f"{i:032x}",
        "span_id": f"{i + 1:016x}",
        "name": "chat gpt-4o",
        "start_ns": 1_700_000_000_000_000_000,
        "end_ns": 1_700_000_000_500_000_000,
        "service": "checkout",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 1234,
        "resource": {"service.name": "checkout", "host.ip": "10.1.2.3"},
    }
    return SpanRecord(**{**base, **fields})


def test_a_resent_history_is_served_from_the_cache_and_counted_in_metrics():
    metrics = Metrics()
    processor = RedactProcessor(RedactionConfig(), metrics)
    history = [{"role": "user", "content": "I'm ann@example.org"}]
    turn_two = [*history, {"role": "user", "content": "and bob@example.org"}]
    first = _span(1, attributes={attrs.GEN_AI_INPUT_MESSAGES: json.dumps(history)})
    second = _span(2, attributes={attrs.GEN_AI_INPUT_MESSAGES: json.dumps(turn_two)})
    processor.process([first])
    first_misses = metrics.registry.get_sample_value(
        "glassline_redaction_cache_total", {"outcome": "miss"}
    )
    (out,) = processor.process([second])
    contents = [m["content"] for m in json.loads(out.attributes[attrs.GEN_AI_INPUT_MESSAGES])]
    assert contents == ["I'm <EMAIL_ADDRESS>", "and <EMAIL_ADDRESS>"]
    assert out.attributes[ENTITIES_ATTRIBUTE] == {"EMAIL_ADDRESS": 2}

    def looked_up(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "glassline_redaction_cache_total", {"outcome": outcome}
        )

    # Everything of the first span came again (history, model, resource, names): the two
    # texts that held something (the first message, the resource's IP) were served from the
    # cache, the analysed ones left as they were (the dated model name) from the redactor's
    # memo of clean texts; only the new message was analysed.
    assert first_misses == 3
    assert (looked_up("hit"), looked_up("miss")) == (2, first_misses + 1)


def test_attributes_events_and_status_are_redacted_and_counted():
    processor = RedactProcessor()
    span = _span(
        status="error",
        status_message="upstream rejected key sk-proj-" + "x" * 40,
        attributes={
            attrs.GEN_AI_INPUT_MESSAGES: json.dumps(
                [{"role": "user", "content": "I'm ann@example.org"}]
            ),
            attrs.GEN_AI_REQUEST_MODEL: "gpt-4o-2024-08-06",
            attrs.GEN_AI_USAGE_INPUT_TOKENS: 1234,
            attrs.GEN_AI_RESPONSE_ID: "chatcmpl-4111111111111111",
        },
        events=[
            SpanEvent("exception", 1, {"exception.message": "card 4111 1111 1111 1111 declined"})
        ],
    )
    before = dataclasses.replace(span)
    (out,) = processor.process([span])
    assert (
        json.loads(out.attributes[attrs.GEN_AI_INPUT_MESSAGES])[0]["content"]
        == "I'm <EMAIL_ADDRESS>"
    )
    assert out.events[0].attributes["exception.message"] == "card <CREDIT_CARD> declined"
    assert out.status_message == "upstream rejected key <OPENAI_API_KEY>"
    # Scanned but left alone: model names, token counts, ids (a card-shaped run inside an
    # id is the id's), the typed fields; the resource is scanned too (its IP goes).
    for key in (
        attrs.GEN_AI_REQUEST_MODEL,
        attrs.GEN_AI_USAGE_INPUT_TOKENS,
        attrs.GEN_AI_RESPONSE_ID,
    ):
        assert out.attributes[key] == before.attributes[key]
    assert out.resource == {"service.name": "checkout", "host.ip": "<IP_ADDRESS>"}
    assert (out.model, out.input_tokens, out.trace_id) == (before.model, 1234, before.trace_id)
    assert out.attributes[ENTITIES_ATTRIBUTE] == {
        "EMAIL_ADDRESS": 1,
        "CREDIT_CARD": 1,
        "OPENAI_API_KEY": 1,
    }
    assert processor.counts == {
        "EMAIL_ADDRESS": 1,
        "CREDIT_CARD": 1,
        "OPENAI_API_KEY": 1,
        "IP_ADDRESS": 1,
    }
    assert (processor.spans_redacted, processor.failures) == (1, 0)


def test_clean_spans_pass_unchanged_without_count_attributes(processor):
    span = _span(attributes={"gen_ai.output.messages": '[{"role":"assistant","content":"Done."}]'})
    expected = dataclasses.replace(span, attributes=dict(span.attributes))
    assert processor.process([span]) == [expected]


def test_drop_policy_removes_the_attribute_and_a_dropped_status_message():
    processor = RedactProcessor(RedactionConfig.model_validate({"entities": {"US_SSN": "drop"}}))
    span = _span(
        status_message="ssn 536-22-8451 invalid",
        attributes={"input.value": "my ssn 536-22-8451", "k": "v" * 10},
    )
    (out,) = processor.process([span])
    assert "input.value" not in out.attributes
    assert out.status_message is None
    assert out.attributes[ENTITIES_ATTRIBUTE] == {"US_SSN": 2}


class _Exploding(str):
    def __len__(self) -> int:
        raise RuntimeError("analysis broke")


def test_a_value_whose_analysis_fails_is_stored_as_redaction_failed():
    processor = RedactProcessor()
    span = _span(
        attributes={"input.value": _Exploding("jane@example.com"), "note": "ip 203.0.113.7"}
    )
    (out,) = processor.process([span])
    assert out.attributes["input.value"] == FAILED_TOKEN
    assert out.attributes["note"] == "ip <IP_ADDRESS>"
    assert out.attributes[ENTITIES_ATTRIBUTE] == {"IP_ADDRESS": 1, FAILED_ENTITY: 1}
    assert processor.failures == 1


def test_truncated_values_are_marked():
    processor = RedactProcessor(RedactionConfig(max_text_chars=500))
    span = _span(attributes={"input.value": "lorem ipsum " * 100})
    (out,) = processor.process([span])
    assert out.attributes[attrs.TRUNCATED_PREFIX + "input.value"] == 1200
    assert len(out.attributes["input.value"]) <= 500


def test_no_corpus_pii_value_leaves_the_step(processor):
    corpus = generate_corpus(300, seed=4242)
    spans = []
    for i, sample in enumerate(corpus):
        event = SpanEvent("log", i, {"message": sample.text})
        spans.append(
            _span(i, attributes=to_attributes(sample), events=[event], status_message=sample.text)
        )
    out = processor.process(spans)
    assert len(out) == len(spans)
    leaked = []
    for sample, span in zip(corpus, out, strict=True):
        stored = json.dumps(
            [span.attributes, [e.attributes for e in span.events], span.status_message]
        )
        stored_raw = stored + " ".join(str(v) for v in span.attributes.values())
        leaked += [v for v in sample.pii_values if v in stored_raw]
    assert leaked == []
    assert sum(processor.counts.values()) >= 3 * sum(len(s.pii) for s in corpus) * 0.9


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'glassline.db'}"
    else:
        url = os.environ.get("GLASSLINE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        with isolated_postgres_url(url) as isolated:
            yield isolated


def _stored_text(store: Store, url: str, tmp_path: Path) -> str:
    """Everything the store holds, as text: the SQLite files' bytes or PostgreSQL's rows."""
    if url.startswith("sqlite"):
        store.close()
        files = sorted(tmp_path.glob("glassline.db*"))
        assert files
        return "".join(f.read_bytes().decode("utf-8", "replace") for f in files)
    with store.session() as session:
        rows = session.execute(text("SELECT row_to_json(s)::text FROM spans s")).scalars().all()
        rows += session.execute(text("SELECT row_to_json(t)::text FROM traces t")).scalars().all()
    store.close()
    return "\n".join(rows)


def test_no_corpus_pii_reaches_the_store(store_url: str, tmp_path: Path) -> None:
    """Invariant 3: after the pipeline (normalize -> redact -> store) no PII value is on disk."""
    corpus = generate_corpus(200, seed=31337)
    spans = []
    for i, sample in enumerate(corpus):
        attributes: dict[str, Any] = {**to_attributes(sample), attrs.GEN_AI_REQUEST_MODEL: "gpt-4o"}
        event = SpanEvent("exception", i, {"exception.message": sample.text})
        spans.append(_span(i, attributes=attributes, events=[event], status_message=sample.text))
    store = Store.open(store_url)
    metrics = Metrics()
    pipeline = Pipeline([NormalizeProcessor(), RedactProcessor(None, metrics)], store, metrics)
    result = pipeline.consume(Principal("acme"), spans)
    assert result.stored == len(corpus)
    stored = _stored_text(store, store_url, tmp_path)
    assert "gpt-4o" in stored and "<EMAIL_ADDRESS>" in stored  # the data did land
    values = {v for s in corpus for v in s.pii_values}
    leaked = sorted(v for v in values if v in stored or json.dumps(v)[1:-1] in stored)
    assert leaked == []
    assert metrics.redactions.labels("EMAIL_ADDRESS", "attribute")._value.get() > 0
    assert metrics.redactions.labels("EMAIL_ADDRESS", "status")._value.get() > 0


def test_names_labels_typed_fields_and_the_resource_are_redacted_with_evidence_by_placement():
    metrics = Metrics()
    processor = RedactProcessor(RedactionConfig(), metrics)
    resource = {"service.name": "checkout", "host.owner": "ops jane@example.com"}
    span = _span(
        name="refund for jane@example.com",
        model="Maria García",  # not shaped like a model name
        user_id="jane@example.com",
        session_id="sess-42",
        stage="call +44 20 7946 0958",
        resource=resource,
        events=[SpanEvent("mail to jane@example.com", 1, {})],
        attributes={
            "app.customer": {"card": 4111111111111111, "tags": [["ip 203.0.113.7"]]},
            ENTITIES_ATTRIBUTE: {"EMAIL_ADDRESS": 999},  # a client's claim is not evidence
        },
    )
    (out,) = processor.process([span])
    assert out.name == "refund for <EMAIL_ADDRESS>"
    assert out.events[0].name == "mail to <EMAIL_ADDRESS>"
    assert (out.model, out.user_id, out.session_id) == ("<PERSON>", "<EMAIL_ADDRESS>", "sess-42")
    assert out.stage == "call <PHONE_NUMBER>"
    assert out.resource is resource and resource["host.owner"] == "ops <EMAIL_ADDRESS>"
    assert out.attributes["app.customer"] == {
        "card": "<CREDIT_CARD>",
        "tags": [["ip <IP_ADDRESS>"]],
    }
    # Counts by type, no values, no hashes; the resource's count is in the metrics only.
    assert out.attributes[ENTITIES_ATTRIBUTE] == {
        "CREDIT_CARD": 1,
        "EMAIL_ADDRESS": 3,
        "IP_ADDRESS": 1,
        "PERSON": 1,
        "PHONE_NUMBER": 1,
    }

    def placed(entity: str, placement: str) -> float | None:
        labels = {"entity": entity, "placement": placement}
        return metrics.registry.get_sample_value("glassline_redactions_total", labels)

    assert placed("EMAIL_ADDRESS", "name") == 2  # span name and event name
    assert placed("PHONE_NUMBER", "name") == 1  # the stage label
    assert placed("EMAIL_ADDRESS", "field") == 1
    assert placed("PERSON", "field") == 1
    assert placed("CREDIT_CARD", "attribute") == 1
    assert placed("EMAIL_ADDRESS", "resource") == 1


def test_a_batch_past_its_deadline_fails_closed_and_is_counted(monkeypatch):
    from glassline.redaction import _engine

    processor = RedactProcessor(RedactionConfig(timeout_s=0.001, cache_chars=0))
    clock = iter(range(0, 10_000, 5))  # every look at the clock is 5 s later
    monkeypatch.setattr(_engine.time, "monotonic", lambda: float(next(clock)))
    span = _span(attributes={"input.value": "mail jane@example.com now"})
    (out,) = processor.process([span])
    assert out.attributes["input.value"] == FAILED_TOKEN
    assert out.attributes[ENTITIES_ATTRIBUTE][FAILED_ENTITY] >= 1
    assert processor.failures >= 1


def test_a_span_whose_label_values_were_found_clean_skips_its_name_map(monkeypatch):
    processor = RedactProcessor(RedactionConfig())
    labels = {"name": "chat gpt-4o", "stage": "generate", "operation": "chat", "scope": "app"}
    processor.process([_span(1, **labels)])
    planned: list[dict[str, Any]] = []
    changed = processor.redactor.redact_attributes_changed

    def spy(maps: Any, modes: Any = None) -> Any:
        planned.extend(maps)
        return changed(maps, modes)

    monkeypatch.setattr(processor.redactor, "redact_attributes_changed", spy)
    same, other = _span(2, **labels), _span(3, **{**labels, "stage": "ask Dr Maria Lopez"})
    out = processor.process([same, other])
    names = [m for m in planned if "span.name" in m]
    assert names == [{"span.name": "chat gpt-4o", "glassline.stage": "ask Dr Maria Lopez",
                      "gen_ai.operation.name": "chat", "service.name": "checkout",
                      "otel.scope.name": "app"}]  # fmt: skip
    assert out[0].stage == "generate" and out[1].stage == "ask Dr <PERSON>"


def test_the_label_memo_changes_nothing_a_fresh_processor_would_write():
    # Label values drawn from a pool with clean ones and ones holding PII, some spans with
    # events: one processor across batches (its memo filling) against a fresh one per batch.
    import random

    rng = random.Random(17)
    pool = {
        "name": ["chat", "answer", "call Mr Smith", "mail jane@example.com", "retrieve"],
        "stage": [None, "generate", "Dr Maria Lopez", "call +1 415 555 0100"],
        "operation": [None, "chat", "embeddings"],
        "provider": [None, "openai", "anthropic"],
        "route": [None, "fast", "to ann@example.org"],
        "cache_layer": [None, "semantic"],
        "service": [None, "checkout"],
        "scope": [None, "app", "Hi Ana Lima"],
    }

    def batch(n: int) -> list[SpanRecord]:
        spans = []
        for _ in range(8):
            fields = {k: rng.choice(v) for k, v in pool.items()}
            events = [SpanEvent(rng.choice(pool["name"]), 1, {})] if rng.random() < 0.2 else []
            spans.append(_span(n, events=events, **fields))
            n += 2
        return spans

    kept = RedactProcessor(RedactionConfig())
    for b in range(40):
        spans = batch(b * 100)
        copies = [
            dataclasses.replace(s, events=[dataclasses.replace(e) for e in s.events],
                                resource=dict(s.resource), attributes=dict(s.attributes))
            for s in spans
        ]  # fmt: skip
        fresh = RedactProcessor(RedactionConfig()).process(copies)
        assert [dataclasses.asdict(s) for s in kept.process(spans)] == [
            dataclasses.asdict(s) for s in fresh
        ]
    assert kept._clean_labels  # the memo was used


def test_a_label_that_is_no_text_is_still_planned_and_redacted():
    # Typed labels are text; one that is not (a list left by some source) cannot be hashed
    # for the label memo, and is redacted as before instead of failing the batch.
    processor = RedactProcessor(RedactionConfig())
    for _ in range(2):
        (out,) = processor.process([_span(1, stage=["mail jane@example.com"])])
        assert out.stage == ["mail <EMAIL_ADDRESS>"]
