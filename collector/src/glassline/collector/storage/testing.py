"""Helpers for tests of code that reads or writes the store.

``isolated_postgres_url`` yields a URL whose connections use a fresh schema (tables and the
Alembic version table land in it), so parallel test runs on one database never collide.
``llm_trace`` builds a small, deterministic workflow trace of typed span records;
``versioned`` gives one a service version, a prompt template and an API key name.
``work_done`` counts the work a database does for the statements of a block.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from glassline.collector.auth import Principal
from glassline.collector.pipeline import stamp_api_key
from glassline.collector.processors.versions import prompt_of, service_version_of
from glassline.collector.records import SpanRecord
from glassline.semconv import attributes as attrs

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "isolated_postgres_url",
    "llm_trace",
    "rows_deleted_per_transaction",
    "spans_deleted_per_transaction",
    "versioned",
    "work_done",
]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def work_done(conn: Connection, table: str) -> Iterator[list[int]]:
    """The work the database did inside the block, in the list's one item once it ends: rows
    of ``table`` read (PostgreSQL, this transaction's counters: call it inside one), or
    SQLite's VM steps in thousands (for every table).

    PostgreSQL plans it with ``enable_seqscan = off``: a test's table of a few hundred rows
    is cheaper to read whole than through an index, so the planner would scan it where on a
    large store it takes the index; without an index it scans it anyway, and that counts.
    """
    work = [0]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        read = text(
            "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = :table"
        )
        before = int(conn.scalar(read, {"table": table}) or 0)
        yield work
        work[0] = int(conn.scalar(read, {"table": table}) or 0) - before
        return
    raw: Any = conn.connection.dbapi_connection

    def step() -> int:
        work[0] += 1
        return 0

    raw.set_progress_handler(step, 1000)
    try:
        yield work
    finally:
        raw.set_progress_handler(None, 1000)


@contextmanager
def isolated_postgres_url(base_url: str = DEFAULT_POSTGRES_URL) -> Iterator[str]:
    """Create a uniquely named schema, yield a URL that uses it, drop it afterwards."""
    schema = f"gl_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _hex(n: int, width: int) -> str:
    return f"{n:0{width}x}"


def llm_trace(
    number: int, start_ns: int, tenant: str = "acme", user: str | None = "alice", **llm: Any
) -> list[SpanRecord]:
    """A deterministic trace ``number``: workflow -> retrieve (tool) -> rerank -> llm.

    The llm span takes ``llm`` overrides (``model``, ``cost_usd``, ``status``, ...). Span ids
    derive from ``number``, so the same call always yields the same ids (for dedupe tests).
    """
    trace_id = _hex(number + 1, 32)
    root = _hex((number + 1) << 8, 16)

    def child(i: int, name: str, offset_ms: int, ms: int, **fields: Any) -> SpanRecord:
        return SpanRecord(
            tenant=tenant,
            trace_id=trace_id,
            span_id=_hex(((number + 1) << 8) + i, 16),
            parent_span_id=root,
            name=name,
            start_ns=start_ns + offset_ms * 1_000_000,
            end_ns=start_ns + (offset_ms + ms) * 1_000_000,
            **fields,
        )

    llm_fields: dict[str, Any] = {
        "kind": "llm",
        "stage": "generate",
        "model": "gpt-4o-mini",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cache_read_tokens": 200,
        "cost_usd": 0.0009,
        "ttft_ms": 180.0,
        "status": "ok",
    }
    llm_fields.update(llm)
    return [
        SpanRecord(
            tenant=tenant,
            trace_id=trace_id,
            span_id=root,
            name="answer_question",
            start_ns=start_ns,
            end_ns=start_ns + 900 * 1_000_000,
            kind="workflow",
            user_id=user,
            session_id=f"session-{number % 3}",
            service="rag-app",
            status="error" if llm_fields["status"] == "error" else "ok",
        ),
        child(
            1,
            "retrieve",
            5,
            80,
            kind="tool",
            stage="retrieve",
            cache_hit=number % 2 == 0,
            cache_layer="retrieval",
        ),
        child(2, "rerank", 90, 40, kind="stage", stage="rerank"),
        child(3, f"chat {llm_fields['model']}", 140, 700, **llm_fields),
    ]


def versioned(
    trace: list[SpanRecord],
    *,
    service_version: str | None = None,
    prompt: tuple[str, str | int] | None = None,
    api_key: str | None = None,
) -> list[SpanRecord]:
    """``trace`` as an app at ``service_version`` sends it with a prompt template on its model
    calls, through a key named ``api_key``: the raw resource and attributes, and the typed
    fields the collector derives from them at ingest (the same functions)."""
    for span in trace:
        if service_version is not None:
            span.resource = {**span.resource, attrs.SERVICE_VERSION: service_version}
        if prompt is not None and span.kind == "llm":
            span.attributes[attrs.PROMPT_NAME], span.attributes[attrs.PROMPT_VERSION] = prompt
        span.prompt_name, span.prompt_version = prompt_of(span.attributes)
        span.service_version = service_version_of(span.resource)
    stamp_api_key(Principal(trace[0].tenant if trace else "", key_name=api_key), trace)
    return trace


def rows_deleted_per_transaction(engine: Engine, table: str) -> list[int]:
    """Rows each committed transaction on ``engine`` deleted from ``table`` (filled as they
    commit): what a background job holds the write lock for."""
    done: list[int] = []
    current = [0]
    deletes = re.compile(rf"\s*DELETE FROM {re.escape(table)}\b", re.IGNORECASE)

    def counted(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if deletes.match(statement):
            current[0] += max(cursor.rowcount, 0)

    def committed(conn: Any) -> None:
        if current[0]:
            done.append(current[0])
        current[0] = 0

    event.listen(engine, "after_cursor_execute", counted)
    event.listen(engine, "commit", committed)
    return done


def spans_deleted_per_transaction(engine: Engine) -> list[int]:
    """:func:`rows_deleted_per_transaction` of ``spans``."""
    return rows_deleted_per_transaction(engine, "spans")
