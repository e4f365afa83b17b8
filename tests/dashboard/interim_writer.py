"""Interim seeding until ``glassline.collector.storage.store.Store`` lands: create_all + rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from glassline.collector.records import SpanRecord
from glassline.collector.storage import sketch
from glassline.collector.storage.models import Base, Rollup, Span, Trace, UserRollup


def write(url: str, records: list[SpanRecord]) -> None:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        s.execute(insert(Span), [_span_row(r) for r in records])
        s.execute(insert(Trace), _trace_rows(records))
        s.execute(insert(Rollup), _rollups(records))
        s.execute(insert(UserRollup), _user_rollups(records))
    engine.dispose()


def _span_row(r: SpanRecord) -> dict:
    row = asdict(r)
    row["events"] = [asdict(e) for e in r.events]
    row["duration_ms"] = r.duration_ms
    row.pop("scope")
    return row


def _trace_rows(records: list[SpanRecord]) -> list[dict]:
    by_trace: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for r in records:
        by_trace[(r.tenant, r.trace_id)].append(r)
    rows = []
    for (tenant, trace_id), spans in by_trace.items():
        root = next(s for s in spans if s.is_root)
        rows.append(
            dict(
                tenant=tenant,
                trace_id=trace_id,
                root_span_id=root.span_id,
                root_name=root.name,
                service=root.service,
                start_ns=min(s.start_ns for s in spans),
                end_ns=max(s.end_ns for s in spans),
                duration_ms=root.duration_ms,
                status="error" if any(s.is_error for s in spans) else "ok",
                user_id=root.user_id,
                session_id=root.session_id,
                span_count=len(spans),
                error_count=sum(s.is_error for s in spans),
                input_tokens=sum(s.input_tokens for s in spans),
                output_tokens=sum(s.output_tokens for s in spans),
                cache_read_tokens=sum(s.cache_read_tokens for s in spans),
                cost_usd=sum(s.cost_usd or 0 for s in spans),
                models=sorted({s.model for s in spans if s.model}),
                stages=sorted({s.stage for s in spans if s.stage}),
                last_seen_ns=root.end_ns,
            )
        )
    return rows


def _rollups(records: list[SpanRecord]) -> list[dict]:
    groups: dict[tuple, list[SpanRecord]] = defaultdict(list)
    for r in records:
        key = (
            r.start_ns // 60_000_000_000 * 60,
            r.tenant,
            r.kind,
            r.stage or "",
            r.model or "",
            r.route or "",
        )
        groups[key].append(r)
    rows = []
    for (minute, tenant, kind, stage, model, route), spans in groups.items():
        lat, ttft = sketch.new_sketch(), sketch.new_sketch()
        for s in spans:
            lat.add(s.duration_ms)
            if s.ttft_ms is not None:
                ttft.add(s.ttft_ms)
        rows.append(
            dict(
                minute=minute,
                tenant=tenant,
                kind=kind,
                stage=stage,
                model=model,
                route=route,
                count=len(spans),
                errors=sum(s.is_error for s in spans),
                input_tokens=sum(s.input_tokens for s in spans),
                output_tokens=sum(s.output_tokens for s in spans),
                cache_read_tokens=sum(s.cache_read_tokens for s in spans),
                cache_creation_tokens=0,
                reasoning_tokens=0,
                cost_usd=sum(s.cost_usd or 0 for s in spans),
                cache_hits=sum(bool(s.cache_hit) for s in spans),
                cache_lookups=sum(s.cache_hit is not None for s in spans),
                retries=sum(s.retries for s in spans),
                fallbacks=sum(s.fallback for s in spans),
                duration_sum_ms=sum(s.duration_ms for s in spans),
                latency_sketch=sketch.encode(lat),
                ttft_sketch=sketch.encode(ttft) if ttft.count else None,
            )
        )
    return rows


def _user_rollups(records: list[SpanRecord]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for r in records:
        key = (r.start_ns // 60_000_000_000 * 60, r.tenant, r.user_id or "")
        g = groups.setdefault(
            key, dict(requests=0, errors=0, input_tokens=0, output_tokens=0, cost_usd=0.0)
        )
        g["requests"] += r.is_root
        g["errors"] += r.is_root and r.is_error
        g["input_tokens"] += r.input_tokens
        g["output_tokens"] += r.output_tokens
        g["cost_usd"] += r.cost_usd or 0
    return [dict(minute=k[0], tenant=k[1], user_id=k[2], **v) for k, v in groups.items()]
