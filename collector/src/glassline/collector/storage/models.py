"""SQLAlchemy models of the store, shared by the collector (writer) and the dashboard (reader).

Times are integers so SQLite and PostgreSQL compare and index them the same way:
``*_ns`` are Unix nanoseconds, ``minute`` is Unix seconds at the start of the minute.
Queried LLM fields are columns; everything else of a span stays in JSON.
Aggregates (spend, tokens, counts, latency percentiles) are read from ``rollups`` and
``user_rollups``, which count every span exactly once BEFORE sampling.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model here is declared from its columns, so its table is a Table: DeclarativeBase
    # types it as any FromClause, which insert(), update() and the merge helpers do not take.
    __table__: ClassVar[Table]


class Span(Base):
    __tablename__ = "spans"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))
    otel_kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8))
    status_message: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String(256))
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    stage: Mapped[str | None] = mapped_column(String(256))
    operation: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(256))
    user_id: Mapped[str | None] = mapped_column(String(256))
    session_id: Mapped[str | None] = mapped_column(String(256))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    cache_layer: Mapped[str | None] = mapped_column(String(128))
    cache_hit: Mapped[bool | None] = mapped_column(Boolean)
    route: Mapped[str | None] = mapped_column(String(256))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    resource: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    __table_args__ = (Index(None, "tenant", "start_ns"),)


class SpanContent(Base):
    """GenAI content events (OTLP log records) of one span, redacted, one row per event.

    ``attributes`` holds the message attributes the event contributes (JSON lists). The span's
    own row gets the rows' lists joined in (``time_ns``, ``seq``) order, whether the span is
    stored before or after its events; ``attached`` says that has happened. A resent event has
    the same ``event_id`` and is kept once. Rows live as long as spans (``retention_days``).
    """

    __tablename__ = "span_content"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    time_ns: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    received_ns: Mapped[int] = mapped_column(BigInteger)
    attached: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index(None, "received_ns"),)


class SearchDoc(Base):
    """The searchable words of the spans (or content events) one write stored for one trace.

    ``id`` encodes the trace's start: Unix milliseconds << 20 plus a hash of the trace (so
    a time range is an ``id`` range and the newest documents come first in ``id`` order).
    ``body`` holds the text: as stored on SQLite, where it is the external content of the
    FTS5 table ``search_fts`` (kept in step by triggers, see migration ``0009_search``), and
    its words as a ``tsvector`` on PostgreSQL, GIN-indexed. Rows go when their trace is purged or
    sampled out. See :mod:`glassline.collector.storage.search`.
    """

    __tablename__ = "search_docs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant: Mapped[str] = mapped_column(String(128))
    trace_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))

    __table_args__ = (
        Index(None, "tenant", "trace_id"),
        Index(None, "tenant", "id"),
        Index("ix_search_docs_body", "body", postgresql_using="gin").ddl_if(dialect="postgresql"),
    )


class Trace(Base):
    """One row per trace, updated as its spans arrive (they may come in several exports)."""

    __tablename__ = "traces"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    root_span_id: Mapped[str | None] = mapped_column(String(16))
    root_name: Mapped[str | None] = mapped_column(String(512))
    service: Mapped[str | None] = mapped_column(String(256))
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(8))  # "error" if any span errored
    user_id: Mapped[str | None] = mapped_column(String(256))
    session_id: Mapped[str | None] = mapped_column(String(256))
    span_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    models: Mapped[list[str]] = mapped_column(JsonType, default=list)
    stages: Mapped[list[str]] = mapped_column(JsonType, default=list)
    last_seen_ns: Mapped[int] = mapped_column(BigInteger)  # collector clock, for decision_wait

    __table_args__ = (
        Index(None, "tenant", "start_ns"),
        Index(None, "tenant", "user_id", "start_ns"),
        Index(None, "tenant", "session_id", "start_ns"),
        Index(None, "start_ns"),
    )


class SeenValue(Base):
    """A value some stored span of a tenant's traces had, by the hour those traces started.

    One row per tenant x dimension (``name`` or a rollup dimension: ``stage``, ``model``...) x
    value x hour, written with the spans; the trace list reads only the hours a filter's value
    was seen in (see :mod:`glassline.collector.storage.seen`). ``hour`` is Unix seconds.
    """

    __tablename__ = "seen_values"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(512), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)

    __table_args__ = (
        Index(None, "dimension", "value", "hour"),  # an admin's filter, over every tenant
        Index(None, "hour"),  # for retention (an index costs only the first row of an hour)
    )


# The dimensions of a rollup row, in key order. The version dimensions and the API key (its
# name, never the key) came in revision 0008; '' stands for none in every one of them.
ROLLUP_DIMENSIONS = (
    "tenant",
    "kind",
    "stage",
    "model",
    "route",
    "service_version",
    "prompt_name",
    "prompt_version",
    "api_key",
)


class _RollupColumns:
    """The measures shared by the minute and hour rollup tables (a mixin, not a table)."""

    tenant: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(256), default="")
    model: Mapped[str] = mapped_column(String(256), default="")
    route: Mapped[str] = mapped_column(String(256), default="")
    service_version: Mapped[str] = mapped_column(String(128), default="", server_default="")
    prompt_name: Mapped[str] = mapped_column(String(256), default="", server_default="")
    prompt_version: Mapped[str] = mapped_column(String(128), default="", server_default="")
    api_key: Mapped[str] = mapped_column(String(128), default="", server_default="")  # its name
    count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    cache_hits: Mapped[int] = mapped_column(Integer, default=0)
    cache_lookups: Mapped[int] = mapped_column(Integer, default=0)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    duration_sum_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # Reported by SDKs: spans their export queue lost (a ``glassline.sdk.dropped_spans`` span),
    # and budget decisions (``glassline.budget.*``): calls denied and the estimate they would
    # have cost, calls degraded and what they cost.
    sdk_lost_spans: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    budget_denied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    budget_prevented_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    budget_degraded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    budget_degraded_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    latency_sketch: Mapped[bytes] = mapped_column(LargeBinary)
    ttft_sketch: Mapped[bytes | None] = mapped_column(LargeBinary)


class Rollup(_RollupColumns, Base):
    """Per-minute aggregates by :data:`ROLLUP_DIMENSIONS` (tenant x kind x stage x model x route
    x service version x prompt name x prompt version x API key).

    Dimension columns are never NULL ('' stands for none) so the unique key works on both
    databases. ``latency_sketch`` is a serialized DDSketch (mergeable across rows).
    """

    __tablename__ = "rollups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_rollups_key", "minute", *ROLLUP_DIMENSIONS, unique=True),
        Index(None, "tenant", "minute"),
    )


class HourRollup(_RollupColumns, Base):
    """The same aggregates per hour, written in the same transaction as ``rollups``.

    Long ranges read these (and ``rollups_daily``) so a stats query merges a few hundred
    sketches instead of tens of thousands; ``hour`` is Unix seconds at the start of the hour.
    """

    __tablename__ = "rollups_hourly"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_rollups_hourly_key", "hour", *ROLLUP_DIMENSIONS, unique=True),
        Index(None, "tenant", "hour"),
    )


class DayRollup(_RollupColumns, Base):
    """The same aggregates per UTC day, so month-long stats merge a few hundred sketches."""

    __tablename__ = "rollups_daily"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger)  # Unix seconds at 00:00 UTC

    __table_args__ = (
        Index("ix_rollups_daily_key", "day", *ROLLUP_DIMENSIONS, unique=True),
        Index(None, "tenant", "day"),
    )


class UserRollup(Base):
    """Per-minute spend and requests by tenant x user (kept apart: users are high-cardinality)."""

    __tablename__ = "user_rollups"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)  # root spans
    errors: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index(None, "tenant", "user_id", "minute"),)


class Lease(Base):
    """A named lease: at most one holder until ``expires_ns`` (jobs that run once per cluster)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_ns: Mapped[int] = mapped_column(BigInteger)


class Evaluation(Base):
    """One evaluation result (``gen_ai.evaluation.result``), linked to its trace and span.

    Stored whatever sampling decides for the trace (an evaluation is a measurement, like a
    rollup), and counted once into ``evaluation_rollups`` when first inserted.
    """

    __tablename__ = "evaluations"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    time_ns: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    response_id: Mapped[str | None] = mapped_column(String(256))
    score_value: Mapped[float | None] = mapped_column(Float)
    score_label: Mapped[str | None] = mapped_column(String(256))
    explanation: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str | None] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(256))
    prompt_name: Mapped[str | None] = mapped_column(String(256))
    prompt_version: Mapped[str | None] = mapped_column(String(128))
    service_version: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index(None, "tenant", "trace_id"),
        Index(None, "tenant", "name", "time_ns"),
        Index(None, "tenant", "response_id"),
        # Retention's delete of the expired (which read every row each pass without it) and
        # an admin's window of one evaluation over every tenant.
        Index(None, "time_ns"),
    )


class EvaluationRollup(Base):
    """Per-minute aggregates of evaluations by tenant x name x stage x model x prompt version.

    ``scored``/``value_sum`` give the mean score, ``passed``/``labelled`` the pass rate (labels
    in :data:`glassline.collector.storage.evaluations.PASS_LABELS` / ``FAIL_LABELS``),
    ``sketch`` the score distribution (a DDSketch like the latency sketches; scores below zero
    count as zero there, the mean is exact). Dimensions are '' for none, as in ``rollups``.
    """

    __tablename__ = "evaluation_rollups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger)
    tenant: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    stage: Mapped[str] = mapped_column(String(256), default="")
    model: Mapped[str] = mapped_column(String(256), default="")
    prompt_name: Mapped[str] = mapped_column(String(256), default="")
    prompt_version: Mapped[str] = mapped_column(String(128), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    value_sum: Mapped[float] = mapped_column(Float, default=0.0)
    labelled: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    sketch: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        # Named: the convention's name would pass PostgreSQL's 63-character limit.
        Index(
            "ix_evaluation_rollups_key",
            "minute",
            "tenant",
            "name",
            "stage",
            "model",
            "prompt_name",
            "prompt_version",
            unique=True,
        ),
        Index(None, "tenant", "minute"),
    )
