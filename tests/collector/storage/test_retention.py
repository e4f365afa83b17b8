"""storage/retention.py: purging what is past retention, a bounded amount per transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Table, func, insert, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage import StorageConfig, Store, expiry, retention
from glassline.collector.storage.models import Base, Rollup, Span, Trace
from glassline.collector.storage.testing import (
    llm_trace,
    rows_deleted_per_transaction,
    spans_deleted_per_transaction,
)

from .test_store import DAY_NS, T0, table_count, traffic


def test_purge_deletes_raw_data_past_retention_and_rollups_past_theirs(store_url: str) -> None:
    store = Store.open(StorageConfig(url=store_url, retention_days=7, rollup_retention_days=30))
    try:
        now = T0 + 100 * DAY_NS
        store.write(traffic(0, 3, start_ns=now - 40 * DAY_NS))  # past both retentions
        store.write(traffic(10, 3, start_ns=now - 10 * DAY_NS))  # raw gone, rollups kept
        store.write(traffic(20, 3, start_ns=now - DAY_NS))  # everything kept
        counts = store.purge(now, chunk=2)  # 6 old traces: several transactions
        assert counts["spans"] == 24 and counts["traces"] == 6
        assert counts["rollups"] > 0 and counts["rollups_hourly"] > 0
        assert counts["rollups_daily"] > 0
        assert counts["user_rollups"] == 3
        with store.session() as s:
            kept = s.scalars(select(Trace.trace_id).order_by(Trace.trace_id)).all()
            assert kept == [sp.trace_id for sp in traffic(20, 3) if sp.is_root]
            assert s.scalar(select(func.sum(Rollup.count))) == 24
            assert s.scalar(select(func.min(Rollup.minute))) >= (now - 30 * DAY_NS) // 10**9
        assert store.purge(now) == dict.fromkeys(counts, 0)
    finally:
        store.close()


def long_trace(number: int, spans: int, start_ns: int) -> list[SpanRecord]:
    """A batch job's trace: one root and ``spans - 1`` LLM calls under it."""
    root, *calls = llm_trace(number, start_ns)
    model = calls[-1]
    return [root] + [
        replace(model, span_id=f"{(number + 1) << 20 | i:016x}", start_ns=start_ns + i)
        for i in range(1, spans)
    ]


def test_purge_deletes_long_traces_a_bounded_number_of_spans_per_transaction(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch job's traces of thousands of spans go over several short transactions, not in
    one that holds the write lock for all of them; the rollups keep counting them."""
    store = Store.open(StorageConfig(url=store_url, retention_days=7))
    try:
        now = T0 + 100 * DAY_NS
        for number in range(3):
            store.write(long_trace(number, 250, now - 10 * DAY_NS + number))
        store.write(traffic(10, 2, start_ns=now - DAY_NS))  # kept
        before = table_count(store, Rollup), _rollup_sum(store)
        per_transaction = spans_deleted_per_transaction(store.engine)
        monkeypatch.setattr(retention, "PURGE_SPANS", 100)
        counts = store.purge(now)
        assert (counts["spans"], counts["traces"]) == (750, 3)
        assert sum(per_transaction) == 750
        assert max(per_transaction) <= 100
        assert table_count(store, Span) == 8 and table_count(store, Trace) == 2
        assert (table_count(store, Rollup), _rollup_sum(store)) == before
        assert store.purge(now)["spans"] == 0
    finally:
        store.close()


def _rollup_sum(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.sum(Rollup.count))) or 0


# Tables the retention pass deletes from by a time column besides spans and traces: the
# column, and whether it is past rollup retention (Unix seconds) or raw retention (ns).
EXPIRING = {
    "span_content": ("received_ns", False),
    "evaluations": ("time_ns", False),
    "rollups": ("minute", True),
    "rollups_hourly": ("hour", True),
    "rollups_daily": ("day", True),
    "user_rollups": ("minute", True),
    "evaluation_rollups": ("minute", True),
}


def _rows(table: Table, column: str, at: int, first: int, count: int) -> list[dict[str, Any]]:
    """``count`` rows of ``table`` at ``at``, every other column a value unique to the row."""
    filler: dict[type, Callable[[int], Any]] = {
        str: lambda i: f"v{i}", int: lambda i: i, float: float, bytes: lambda _: b"",
        bool: lambda _: False,
    }  # fmt: skip
    generated = [c for c in table.primary_key if c.autoincrement is True]
    rows = []
    for i in range(first, first + count):
        row: dict[str, Any] = {column: at}
        for col in table.columns:
            if col.name == column or col in generated:
                continue
            try:
                row[col.name] = filler[col.type.python_type](i)
            except (KeyError, NotImplementedError):  # JSON
                row[col.name] = {}
        rows.append(row)
    return rows


def test_purge_deletes_every_expired_table_a_bounded_number_of_rows_per_transaction(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After days of downtime (or a retention shortened in the config) every table meets
    far more expired rows than one interval's: none of them goes in one transaction that
    holds SQLite's write lock (or makes one huge PostgreSQL transaction) for all of them."""
    store = Store.open(StorageConfig(url=store_url, retention_days=7, rollup_retention_days=30))
    try:
        now = T0 + 1000 * DAY_NS
        deleted = {name: rows_deleted_per_transaction(store.engine, name) for name in EXPIRING}
        with store.engine.begin() as conn:
            for name, (column, rollup) in EXPIRING.items():
                table = Base.metadata.tables[name]
                old = now - (31 if rollup else 8) * DAY_NS
                recent = now - DAY_NS
                scale = 10**9 if rollup else 1
                conn.execute(insert(table), _rows(table, column, old // scale, 0, 250))
                conn.execute(insert(table), _rows(table, column, recent // scale, 250, 3))
        monkeypatch.setattr(expiry, "PURGE_ROWS", 100)
        counts = store.purge(now)
        for name in EXPIRING:
            assert counts[name] == 250, name
            assert deleted[name] == [100, 100, 50], name
            assert table_count(store, Base.metadata.tables[name]) == 3, name
    finally:
        store.close()
