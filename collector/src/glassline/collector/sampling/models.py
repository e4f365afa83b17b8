"""Tables of the sampling state (created by migration ``0003_sampling``).

``sampling_decisions``  one row per decided trace: kept or dropped, and by which policy. Late
                        spans follow it until it is purged after ``decision_memory_s``.
``sampling_pending``    traces with retained spans and no decision yet: the decider's work
                        queue, small by construction (rows leave when the trace is decided).
                        ``queued_ns`` is the collector clock when a span last arrived.
``sampling_span_keys``  keys of spans that were counted in the rollups but not retained, so a
                        client retry of one is recognised and never counted twice.
``sampling_stats``      traces kept / dropped per minute (of the decision) x tenant x policy,
                        kept for as long as rollups, for metrics, the query API and dashboard.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from glassline.collector.storage.models import Base

__all__ = ["HEAD_POLICY", "SampledOutSpan", "SamplingDecision", "SamplingPending", "SamplingStat"]

HEAD_POLICY = "head"  # the policy recorded for traces dropped by head sampling


class SamplingDecision(Base):
    __tablename__ = "sampling_decisions"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kept: Mapped[bool] = mapped_column(Boolean)
    policy: Mapped[str | None] = mapped_column(String(256))  # None: dropped by no policy
    # The trace's user, so late spans of a dropped trace are still attributed in user_rollups.
    user_id: Mapped[str | None] = mapped_column(String(256))
    decided_ns: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "decided_ns"), Index(None, "tenant", "decided_ns"))


class SamplingPending(Base):
    __tablename__ = "sampling_pending"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queued_ns: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "queued_ns"),)


class SampledOutSpan(Base):
    __tablename__ = "sampling_span_keys"

    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    seen_ns: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "seen_ns"),)


class SamplingStat(Base):
    __tablename__ = "sampling_stats"

    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    policy: Mapped[str] = mapped_column(String(256), primary_key=True)  # '' when dropped
    kept: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    traces: Mapped[int] = mapped_column(Integer, default=0)
