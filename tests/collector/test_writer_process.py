"""The SQLite writer process: workers' batches stored through it, once, and nothing else."""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Client
from pathlib import Path

import pytest
from sqlalchemy import func, select

from glassline.collector.config import CollectorConfig, load_config
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.server import _writer_process
from glassline.collector.storage import Store
from glassline.collector.storage.models import Rollup, Span
from glassline.collector.writer_process import (
    RemoteSink,
    WriterAddress,
    _pack,
    _unpack,
    writer_address,
)


def record(i: int, **extra: object) -> SpanRecord:
    return SpanRecord(
        tenant="acme", trace_id=f"{i:032x}", span_id=f"{i + 1:016x}", name=f"chat {i}",
        start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_000_500_000_000, kind="llm",
        model="gpt-4o-mini", input_tokens=100, output_tokens=10, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[CollectorConfig, WriterAddress]]:
    config = load_config(
        {"storage": {"url": f"sqlite:///{tmp_path / 'gl.db'}"}, "server": {"workers": 2}},
        environ={"GLASSLINE_API_KEYS": "acme=test-key-123456"},
    )
    Store.open(config.storage).close()  # migrated first, as the supervisor does
    ctx = multiprocessing.get_context("spawn")
    with writer_address() as address, _writer_process(ctx, config, address) as proc:
        assert proc.is_alive()
        yield config, address
    assert proc.exitcode == 0  # stopped cleanly when the control pipe closed


def test_every_field_of_a_record_survives_the_trip() -> None:
    full = {
        f.name: value
        for f, value in zip(
            dataclasses.fields(SpanRecord),
            ["t", "a" * 32, "b" * 16, "n", 1, 2, "c" * 16, "CLIENT", "error", "boom", "svc",
             "scope", {"k": [1, "x"], "f": 0.5}, [SpanEvent("e", 3, {"x": True})], {"r": "s"},
             "llm", "generate", "chat", "openai", "gpt-4o", "u", "s", 10, 5, 2, 1, 3, 0.25,
             "semantic", True, "fast", True, 2, 12.5],
            strict=True,
        )
    }  # fmt: skip
    span = SpanRecord(**full)  # type: ignore[arg-type]
    assert _unpack(_pack([span])) == [span]


def test_batches_are_stored_once_and_counted_once(writer: tuple[CollectorConfig, WriterAddress]):
    config, address = writer
    sink = RemoteSink(address)
    first = sink.write([record(i) for i in range(10)])
    again = sink.write([record(i) for i in range(5, 15)])  # a client retry, half of it new
    sink.close()
    assert (first.inserted, first.duplicates) == (10, 0)
    assert (again.inserted, again.duplicates) == (5, 5)
    store = Store.open(config.storage)
    try:
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Span)) == 15
            assert s.scalar(select(func.sum(Rollup.count))) == 15
    finally:
        store.close()


def test_a_failed_write_is_an_error_for_that_batch_only(
    writer: tuple[CollectorConfig, WriterAddress],
) -> None:
    _, address = writer
    sink = RemoteSink(address)
    with pytest.raises(RuntimeError, match="writer process failed"):
        bad = dataclasses.replace(record(1), tenant=None)  # NOT NULL: the store rejects it
        sink.write([bad])
    assert sink.write([record(2)]).inserted == 1  # and goes on with the next one
    sink.close()


def test_a_client_without_the_key_is_refused(writer: tuple[CollectorConfig, WriterAddress]):
    _, address = writer
    with pytest.raises(multiprocessing.AuthenticationError):
        Client(address.path, family="AF_UNIX", authkey=b"wrong key")
    assert RemoteSink(address).write([record(3)]).inserted == 1
