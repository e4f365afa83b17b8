"""``storage.partitioning``: spans range-partitioned by start time on PostgreSQL.

Partitions exist before spans arrive, each span lands in the partition of its start time, a
resent span is still stored and counted once, retention drops whole expired partitions and
keeps newer data, an existing store converts with its rows, and the queries answer the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from glassline.collector.storage import Store, WriteResult
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.partitions import DEFAULT, is_partitioned, partitions
from glassline.collector.storage.queries import get_trace, list_traces
from glassline.collector.storage.testing import isolated_postgres_url, llm_trace

from ..conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres

DAY_NS = 86_400 * 1_000_000_000
NOW = time.time_ns()
TODAY = NOW // DAY_NS * DAY_NS


@pytest.fixture
def pg_url() -> Iterator[str]:
    with isolated_postgres_url(POSTGRES_URL) as url:
        yield url


def open_partitioned(url: str, premake: int = 3, retention_days: float = 7) -> Store:
    return Store.open(
        StorageConfig(
            url=url,
            retention_days=retention_days,
            partitioning={"period": "day", "premake": premake},
        )
    )


def where(store: Store) -> dict[str, int]:
    """Spans per partition table."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM spans GROUP BY 1"))
        return {name: n for name, n in rows}


def scalar(store: Store, sql: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one() or 0


def test_a_new_store_has_todays_partition_and_premake_more_before_any_span(pg_url: str) -> None:
    store = open_partitioned(pg_url, premake=3)
    try:
        with store.engine.connect() as conn:
            assert is_partitioned(conn)
            parts = partitions(conn)
        assert [(p.lo_ns, p.hi_ns) for p in parts] == [
            (TODAY + d * DAY_NS, TODAY + (d + 1) * DAY_NS) for d in range(4)
        ]
        assert store.premake_partitions() == []  # already there: nothing to do
        assert store.premake_partitions(NOW + DAY_NS) == [f"spans_p{_day(TODAY, 4)}"]
    finally:
        store.close()


def _day(today_ns: int, days: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime((today_ns + days * DAY_NS) // 1_000_000_000))


def test_spans_land_in_the_partition_of_their_start_and_a_resend_is_stored_once(
    pg_url: str,
) -> None:
    store = open_partitioned(pg_url)
    try:
        today = llm_trace(1, NOW)
        later = llm_trace(2, TODAY + 2 * DAY_NS + 60 * 1_000_000_000)
        assert store.write(today + later).inserted == 8
        # A client retry, and the same spans again through a batch of their own.
        assert store.write(today + later) == WriteResult(inserted=0, duplicates=8)
        assert store.write(later[:2]).duplicates == 2
        assert where(store) == {
            f"spans_p{_day(TODAY, 0)}": 4,
            f"spans_p{_day(TODAY, 2)}": 4,
        }
        assert scalar(store, "SELECT sum(count) FROM rollups") == 8
        assert scalar(store, "SELECT sum(span_count) FROM traces") == 8
    finally:
        store.close()


def test_a_span_outside_every_partition_waits_in_the_default_and_moves_when_its_day_is_made(
    pg_url: str,
) -> None:
    store = open_partitioned(pg_url, premake=1)
    try:
        far = llm_trace(3, TODAY + 30 * DAY_NS)  # a client clock a month ahead
        store.write(far)
        assert where(store) == {DEFAULT: 4}
        store.premake_partitions(TODAY + 30 * DAY_NS)
        assert where(store) == {f"spans_p{_day(TODAY, 30)}": 4}
        assert store.write(far).duplicates == 4
    finally:
        store.close()


def test_retention_drops_expired_partitions_and_keeps_newer_data(pg_url: str) -> None:
    store = open_partitioned(pg_url, retention_days=7)
    try:
        store.premake_partitions(NOW - 10 * DAY_NS)  # days -10 .. -7 (as if made back then)
        old = llm_trace(4, NOW - 10 * DAY_NS) + llm_trace(5, NOW - 9 * DAY_NS)
        edge = llm_trace(6, NOW - 6 * DAY_NS)  # inside retention: in the default partition
        new = llm_trace(7, NOW)
        store.write(old + edge + new)
        counts = store.purge(NOW)
        assert counts["span_partitions"] == 3  # days -10, -9 and -8 end before the cutoff
        with store.engine.connect() as conn:
            left = [p.lo_ns for p in partitions(conn)]
        assert min(left) == TODAY - 7 * DAY_NS and TODAY in left
        kept = scalar(store, "SELECT count(*) FROM spans")
        assert kept == len(edge) + len(new)
        with store.session() as session:
            ids = {t.trace_id for t in list_traces(session, "acme", limit=50).traces}
        assert ids == {edge[0].trace_id, new[0].trace_id}
    finally:
        store.close()


def test_an_existing_store_converts_with_its_rows_and_its_queries_answer_the_same(
    pg_url: str,
) -> None:
    plain = Store.open(pg_url)
    spans = [s for n in range(6) for s in llm_trace(10 + n, NOW - n * DAY_NS // 2)]
    plain.write(spans)
    with plain.session() as session:
        before = list_traces(session, "acme", limit=50)
        detail = get_trace(session, "acme", spans[0].trace_id)
    with plain.engine.connect() as conn:
        assert not is_partitioned(conn)
    plain.close()

    store = open_partitioned(pg_url)
    try:
        with store.engine.connect() as conn:
            assert is_partitioned(conn)
        assert sum(where(store).values()) == len(spans)
        assert DEFAULT not in where(store)  # every span is within retention: a day of its own
        with store.session() as session:
            assert list_traces(session, "acme", limit=50) == before
            assert get_trace(session, "acme", spans[0].trace_id) == detail
        assert store.write(spans).duplicates == len(spans)
        assert scalar(store, "SELECT sum(count) FROM rollups") == len(spans)
    finally:
        store.close()
    # Turning the option off later: the table stays partitioned and still takes writes.
    plain = Store.open(pg_url)
    try:
        assert plain.write(llm_trace(20, NOW)).inserted == 4
    finally:
        plain.close()


def test_partitioning_on_sqlite_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        StorageConfig(url="sqlite:///x.db", partitioning={"period": "day"})
    (error,) = info.value.errors()
    assert error["loc"] == ("partitioning",) and "PostgreSQL" in error["msg"]
