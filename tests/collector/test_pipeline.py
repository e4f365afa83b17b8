"""pipeline.py: processors in order, failures become retryable, a commit before success."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from glassline.collector.auth import Principal, generate_key
from glassline.collector.config import LimitsConfig
from glassline.collector.decode import decode_protobuf
from glassline.collector.errors import RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.pipeline import Pipeline
from glassline.collector.processors.limits import LimitsProcessor
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.models import Span
from glassline.collector.testing import metric_by_label, run_collector
from glassline.semconv import attributes as attrs

ACME = Principal("acme")


class Tag:
    """Appends its name to each span's ``order`` attribute (shows the order steps ran in)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        for span in batch:
            span.attributes["order"] = f"{span.attributes.get('order', '')}{self.name}"
        return batch


class DropOdd:
    name = "drop_odd"

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        return [s for s in batch if int(s.span_id, 16) % 2 == 0]


class Explode:
    name = "explode"

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        raise ValueError("secret prompt text that must not be logged")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'gl.db'}")
    yield store
    store.close()


def records(h: Any, n: int) -> list[SpanRecord]:
    request = h.make_request(*(h.make_span(i) for i in range(1, n + 1)))
    return decode_protobuf(request.SerializeToString(), "acme", max_spans=100).records


def stored_count(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Span)) or 0)


def test_processors_run_in_order_then_the_batch_is_stored(h: Any, store: Store) -> None:
    pipeline = Pipeline([Tag("a"), Tag("b"), Tag("c")], store, Metrics())
    result = pipeline.consume(ACME, records(h, 3))
    assert (result.stored, result.duplicates) == (3, 0)
    with store.session() as session:
        assert {s.attributes["order"] for s in session.scalars(select(Span))} == {"abc"}


def test_a_processor_that_returns_fewer_spans_drops_them(h: Any, store: Store) -> None:
    metrics = Metrics()
    result = Pipeline([DropOdd()], store, metrics).consume(ACME, records(h, 4))
    assert (result.stored, result.dropped) == (2, 2)
    assert stored_count(store) == 2
    assert metrics.dropped.labels("drop_odd")._value.get() == 2


def test_a_failing_processor_fails_the_batch_as_retryable_and_stores_nothing(
    h: Any, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    pipeline = Pipeline([Tag("a"), Explode()], store, metrics)
    with pytest.raises(RetryableError, match=r"processing failed \(explode\)"):
        pipeline.consume(ACME, records(h, 2))
    assert stored_count(store) == 0
    assert metrics.batch_failures.labels("explode")._value.get() == 1
    assert "secret prompt" not in caplog.text
    assert "explode failed" in caplog.text


def test_a_store_failure_is_retryable(h: Any, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'gone.db'}")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE spans")
    with pytest.raises(RetryableError, match="storage is unavailable"):
        Pipeline([], store, Metrics()).consume(ACME, records(h, 1))
    store.close()


def test_duplicates_are_counted_once(h: Any, store: Store) -> None:
    metrics = Metrics()
    pipeline = Pipeline([], store, metrics)
    pipeline.consume(ACME, records(h, 3))
    again = pipeline.consume(ACME, records(h, 3))
    assert (again.stored, again.duplicates) == (0, 3)
    assert stored_count(store) == 3
    assert metrics.duplicates._value.get() == 3
    assert metrics.stored._value.get() == 3


@pytest.mark.postgres
def test_an_over_long_user_id_does_not_poison_a_postgres_batch(h: Any) -> None:
    import uuid

    from sqlalchemy import create_engine, text

    from glassline.collector.processors.limits import FitColumnsProcessor
    from glassline.collector.processors.normalize import NormalizeProcessor

    name = f"glassline_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        store = Store.open(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        span = h.make_span(1)
        span.attributes.append(h.kv("user.id", "u" * 300))
        batch = decode_protobuf(h.make_request(span, h.make_span(2)).SerializeToString(), "acme",
                                max_spans=10).records  # fmt: skip
        pipeline = Pipeline([NormalizeProcessor(), FitColumnsProcessor()], store, Metrics())
        assert pipeline.consume(ACME, batch).stored == 2
        store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_spans_lost_in_the_app_are_counted_per_tenant(h: Any, store: Store) -> None:
    metrics = Metrics()
    batch = records(h, 2)
    report = batch[0]
    report.name = "glassline.sdk.dropped_spans"
    report.attributes["glassline.sdk.dropped_spans"] = 7
    Pipeline([], store, metrics).consume(ACME, batch)
    assert metrics.sdk_lost.labels("acme")._value.get() == 7
    assert stored_count(store) == 2  # the report is stored like any span


def test_a_keys_name_is_stamped_as_configured_and_costs_redaction_nothing(
    h: Any, tmp_path: Path
) -> None:
    """The name of the key a span came with is the config's, stamped after the processors:
    redaction masked one named like an email, and the name of every new key was a text of its
    own to analyse (2,000 tenants' first exports each ran the recognizers over it)."""
    keys = {f"ops{i}@acme.com": generate_key() for i in range(12)}
    tenants = {f"t{i}": [{"name": name, "key": key}] for i, (name, key) in enumerate(keys.items())}
    now = time.time_ns()  # within the store's retention
    span = h.make_span(1, start_time_unix_nano=now, end_time_unix_nano=now + 1_000_000)
    body = h.make_request(span).SerializeToString()
    with run_collector({"auth": {"tenants": tenants}}, tenants=(), workdir=tmp_path) as collector:

        def export(key: str) -> None:
            reply = httpx.post(f"{collector.http_endpoint}/v1/traces", content=body, timeout=30,
                               headers={"content-type": "application/x-protobuf",
                                        "authorization": f"Bearer {key}"})  # fmt: skip
            reply.raise_for_status()

        def analysed() -> float:
            found = metric_by_label(collector.http_endpoint, "glassline_redaction_cache_total",
                                    "outcome")  # fmt: skip
            return found.get("miss", 0.0)

        first, *others = keys.values()
        export(first)
        after_one_key = analysed()
        for key in others:
            export(key)
        assert analysed() == after_one_key  # the same span from 11 more keys: nothing new
        names = set()
        for key in keys.values():
            trace = httpx.get(f"{collector.http_endpoint}/api/v1/traces/{'0' * 31}1", timeout=30,
                              headers={"authorization": f"Bearer {key}"}).json()  # fmt: skip
            names.add(trace["spans"][0]["attributes"][attrs.API_KEY_NAME])
    assert names == set(keys)


def test_a_span_at_the_attribute_limit_keeps_its_keys_name(h: Any, store: Store) -> None:
    # Stamped before the limits, the name was the attribute past the limit and was dropped.
    span = h.make_span(1)
    span.attributes.extend(h.kv(f"a{i}", "x") for i in range(3))
    batch = decode_protobuf(h.make_request(span).SerializeToString(), "acme", max_spans=10).records
    limits = LimitsProcessor(LimitsConfig(max_attributes_per_span=3))
    Pipeline([limits], store, Metrics()).consume(Principal("acme", key_name="web"), batch)
    with store.session() as session:
        stored = session.execute(select(Span.attributes)).scalar_one()
    assert stored[attrs.API_KEY_NAME] == "web"
