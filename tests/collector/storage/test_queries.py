"""Trace lists and trace detail, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, inspect, select

from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.cardinality import OTHER
from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.models import DayRollup, Trace
from glassline.collector.storage.queries import (
    QueryError,
    TraceFilter,
    failed_spans,
    get_trace,
    list_traces,
    trace_conditions,
)
from glassline.collector.storage.testing import llm_trace, versioned

HOUR_NS = 3600 * 1_000_000_000
T0 = 1_790_000_000 * 1_000_000_000 // HOUR_NS * HOUR_NS  # on an hour boundary


def seed(store: Store, every_s: int = 90) -> list[SpanRecord]:
    """120 traces (3 hours at the default spacing) for two tenants, models and users;
    every 9th trace fails."""
    spans: list[SpanRecord] = []
    for n in range(120):
        tenant = "acme" if n % 3 else "globex"
        spans += llm_trace(
            n,
            T0 + n * every_s * 1_000_000_000,
            tenant=tenant,
            user=f"user-{n % 5}",
            model="gpt-4o" if n % 2 else "claude-3-5-haiku",
            cost_usd=0.001 * (n % 7 + 1),
            status="error" if n % 9 == 0 else "ok",
        )
        # An app deployed at 1.2.0 then 1.3.0, three prompt versions (Langfuse numbers one),
        # two API keys.
        versioned(spans[-4:], service_version="1.2.0" if n < 60 else "1.3.0",
                  prompt=("answer", ["v6", "v7", 8][n % 3]), api_key="web" if n % 4 else "batch")  # fmt: skip
    store.write(spans)
    return spans


def test_list_traces_pages_newest_first_through_all_of_a_tenants_traces(store: Store) -> None:
    spans = seed(store)
    want = sorted(
        ((s.start_ns, s.trace_id) for s in spans if s.is_root and s.tenant == "acme"),
        reverse=True,
    )
    got, cursor = [], None
    with store.session() as session:
        while True:
            page = list_traces(session, "acme", limit=7, cursor=cursor)
            got += [(t.start_ns, t.trace_id) for t in page.traces]
            assert all(t.tenant == "acme" for t in page.traces)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert got == want


def test_admin_lists_every_tenant_and_ties_on_start_do_not_lose_traces(store: Store) -> None:
    same_start = [llm_trace(n, T0, tenant=t) for n, t in [(1, "a"), (1, "b"), (2, "a")]]
    store.write([s for trace in same_start for s in trace])
    with store.session() as session:
        first = list_traces(session, None, limit=2)
        second = list_traces(session, None, limit=2, cursor=first.next_cursor)
    keys = [(t.tenant, t.trace_id) for t in first.traces + second.traces]
    assert sorted(keys) == sorted({(tr[0].tenant, tr[0].trace_id) for tr in same_start})
    assert second.next_cursor is None


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"user": "user-2"}, lambda n: n % 5 == 2),
        ({"session_id": "session-1"}, lambda n: n % 3 == 1),
        ({"model": "gpt-4o"}, lambda n: n % 2 == 1),
        ({"status": "error"}, lambda n: n % 9 == 0),
        ({"min_cost": 0.0055}, lambda n: n % 7 + 1 >= 6),
        ({"start_ns": T0 + 3600 * 10**9, "end_ns": T0 + 7200 * 10**9}, lambda n: 40 <= n < 80),
        ({"name_contains": "GPT-4O"}, lambda n: n % 2 == 1),  # span names, case-insensitive
    ],
)
def test_list_traces_filters(store: Store, filters: dict, predicate) -> None:
    seed(store)
    with store.session() as session:
        page = list_traces(session, None, limit=1000, **filters)
    want = sorted(f"{n + 1:032x}" for n in range(120) if predicate(n))
    assert sorted(t.trace_id for t in page.traces) == want


def test_list_traces_min_duration_uses_the_root_span(store: Store) -> None:
    store.write(llm_trace(1, T0) + llm_trace(2, T0))
    with store.session() as session:
        assert len(list_traces(session, "acme", min_duration_ms=900).traces) == 2
        assert list_traces(session, "acme", min_duration_ms=901).traces == []


@pytest.mark.parametrize(
    ("kwargs", "parameter"), [({"limit": 0}, "limit"), ({"cursor": "!!"}, "cursor")]
)
def test_bad_list_parameters_name_the_parameter(store: Store, kwargs: dict, parameter: str) -> None:
    with store.session() as session, pytest.raises(QueryError) as err:
        list_traces(session, "acme", **kwargs)
    assert err.value.parameter == parameter


def test_get_trace_returns_all_spans_with_attributes_and_events(store: Store) -> None:
    spans = llm_trace(3, T0)
    spans[3].attributes = {"gen_ai.input.messages": '[{"role": "user"}]', "n": 3}
    spans[3].events = []
    from glassline.collector.records import SpanEvent

    spans[3].events = [SpanEvent("exception", T0 + 5, {"exception.message": "boom"})]
    store.write(spans)
    with store.session() as session:
        detail = get_trace(session, "acme", spans[0].trace_id)
        other_tenant = get_trace(session, "globex", spans[0].trace_id)
        admin = get_trace(session, None, spans[0].trace_id)
    assert other_tenant is None
    assert detail is not None and admin is not None
    assert detail.trace.root_name == "answer_question" and detail.trace.span_count == 4
    assert [s["span_id"] for s in detail.spans] == [s.span_id for s in spans]
    llm = detail.spans[3]
    assert llm["attributes"] == {"gen_ai.input.messages": '[{"role": "user"}]', "n": 3}
    assert llm["events"] == [
        {"name": "exception", "time_ns": T0 + 5, "attributes": {"exception.message": "boom"}}
    ]
    assert admin.trace == detail.trace


def _long_trace(calls: int) -> list[SpanRecord]:
    """A batch job's trace: one workflow, then ``calls`` model calls, every seventh failing."""
    root = llm_trace(7, T0)[0]
    calls_ = [
        SpanRecord(tenant="acme", trace_id=root.trace_id, span_id=f"{i + 1:016x}",
                   parent_span_id=root.span_id, name="chat gpt-4o-mini", kind="llm",
                   start_ns=T0 + (calls - i) * 1_000, end_ns=T0 + (calls - i) * 1_000 + 500,
                   status="error" if i % 7 == 3 else "ok")
        for i in range(calls)
    ]  # fmt: skip
    return [root, *calls_]  # written newest first: the read orders them


def test_a_long_trace_is_read_in_pages_by_start_time(store: Store) -> None:
    spans = _long_trace(24)
    store.write(spans)
    by_start = [s.span_id for s in sorted(spans, key=lambda s: (s.start_ns, s.span_id))]
    pages, offset = [], 0
    with store.session() as session:
        while offset is not None:
            detail = get_trace(session, "acme", spans[0].trace_id, limit=10, offset=offset)
            assert detail is not None and len(detail.spans) <= 10
            pages.append([s["span_id"] for s in detail.spans])
            offset = detail.next_offset
        failed = failed_spans(session, "acme", spans[0].trace_id, limit=100)
        past_the_end = get_trace(session, "acme", spans[0].trace_id, offset=25)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [span for page in pages for span in page] == by_start
    # Failures come out wherever they fall among the pages, by start time.
    assert [s["span_id"] for s in failed] == [
        s for s in by_start if next(x for x in spans if x.span_id == s).status == "error"
    ]
    assert len(failed) == 3 and past_the_end is not None and past_the_end.spans == []


def test_an_admin_opens_the_newest_trace_with_an_id_whatever_its_tenant(store: Store) -> None:
    for tenant, hours in (("acme", 0), ("globex", 2), ("initech", 1)):  # one id, three tenants
        store.write(llm_trace(5, T0 + hours * HOUR_NS, tenant=tenant))
    trace_id = llm_trace(5, T0)[0].trace_id
    with store.session() as session:
        admin = get_trace(session, None, trace_id)
        acme = get_trace(session, "acme", trace_id)
        missing = get_trace(session, None, "f" * 32)
    assert admin is not None and admin.trace.tenant == "globex"
    assert acme is not None and acme.trace.start_ns == T0
    assert missing is None


def test_an_admins_trace_lookup_seeks_the_primary_key_once_per_tenant(tmp_path: Path) -> None:
    # No index on trace_id alone: each new trace would put a random page of it in every write.
    store = Store.open(f"sqlite:///{tmp_path}/g.db")
    store.write(llm_trace(5, T0, tenant="acme") + llm_trace(6, T0, tenant="globex"))
    statements: list[tuple[str, tuple]] = []
    event.listen(
        store.engine, "before_cursor_execute",
        lambda conn, cursor, sql, params, *_: statements.append((sql, params)),
    )  # fmt: skip
    with store.session() as session:
        assert get_trace(session, None, llm_trace(6, T0)[0].trace_id) is not None
    lookup = next((sql, p) for sql, p in statements if sql.lstrip().startswith("SELECT traces."))
    with store.engine.connect() as conn:
        plan = " ".join(
            row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + lookup[0], lookup[1])
        )
        indexes = inspect(conn).get_indexes("traces")
    store.close()
    assert "USING INDEX sqlite_autoindex_traces_1 (tenant=? AND trace_id=?)" in plan
    assert [i["column_names"] for i in indexes if i["column_names"][0] == "trace_id"] == []


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        (TraceFilter(service_version="1.3.0"), lambda n: n >= 60),
        (TraceFilter(prompt_version="v7"), lambda n: n % 3 == 1),
        (TraceFilter(prompt_version="8"), lambda n: n % 3 == 2),  # sent as a number
        (TraceFilter(api_key="batch"), lambda n: n % 4 == 0),
        (TraceFilter(api_key="batch", prompt_version="v6"), lambda n: n % 12 == 0),
    ],
)
def test_traces_are_found_by_version_and_key_name(
    store: Store, filters: TraceFilter, predicate
) -> None:
    spans = seed(store)
    with store.engine.connect() as conn:
        conds = trace_conditions(conn, None, None, None, filters)
        found = set(conn.scalars(select(Trace.trace_id).where(*conds)))
    want = {s.trace_id for n, s in enumerate(spans[::4]) if predicate(n)}
    assert found == want and want


def _vm_steps(store: Store, filters: TraceFilter) -> int:
    """SQLite virtual machine steps (in thousands) of a trace list that finds nothing."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.set_progress_handler(step, 1000)
        try:
            conds = trace_conditions(conn, None, None, None, filters)
            newest = select(Trace.trace_id).where(*conds).order_by(Trace.start_ns.desc())
            assert not conn.scalars(newest.limit(50)).all()
        finally:
            raw.set_progress_handler(None, 1000)
    return steps[0]


@pytest.mark.parametrize(
    "filters",
    [TraceFilter(stage="no-such-stage"), TraceFilter(model="no-such-model"),
     TraceFilter(api_key="nobody"), TraceFilter(stage="generate", route="nowhere")],
)  # fmt: skip
def test_a_filter_the_rollups_never_saw_reads_no_trace(
    tmp_path: Path, filters: TraceFilter
) -> None:
    # The list scans the newest traces first for a matching span: one that matched nothing
    # read every span of the range (2.2-3.2 s a 30-day view of 2.4M spans).
    store = Store.open(f"sqlite:///{tmp_path / 'glassline.db'}")
    try:
        seed(store)
        few = _vm_steps(store, filters)
        for round_ in range(1, 10):
            store.write([s for n in range(120) for s in llm_trace(round_ * 1000 + n, T0 + n)])
        many = _vm_steps(store, filters)
    finally:
        store.close()
    assert many <= few + 1  # ten times the traces, the same work


def test_a_filter_finds_the_traces_of_a_value_the_dimension_bound_folded(tmp_path: Path) -> None:
    config = StorageConfig(url=f"sqlite:///{tmp_path / 'glassline.db'}", max_dimension_values=1)
    store = Store.open(config)
    try:
        spans = seed(store)  # a stage past the first is counted as "(other)" in the rollups
        stages = sorted({s.stage for s in spans if s.stage})
        with store.engine.connect() as conn:
            assert OTHER in set(conn.scalars(select(DayRollup.stage))) and len(stages) > 1
            for stage in stages:
                conds = trace_conditions(conn, None, None, None, TraceFilter(stage=stage))
                found = set(conn.scalars(select(Trace.trace_id).where(*conds)))
                assert found == {s.trace_id for s in spans if s.stage == stage}
    finally:
        store.close()
