"""Stats from the rollups: count, errors, tokens, cost and latency percentiles per group.

Read from the rollup tables only, never by scanning spans, through
:mod:`glassline.collector.storage.aggregates` (as the dashboard and alerts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from glassline.collector.storage import aggregates, sketch
from glassline.collector.storage.queries import QueryError
from glassline.semconv.attributes import SpanKinds

__all__ = ["GROUP_BYS", "TIME_BUCKETS", "StatsRow", "stats", "stats_dicts"]

GROUP_BYS = (
    "stage",
    "model",
    "snapshot",
    "tenant",
    "route",
    "service_version",
    "prompt_name",
    "prompt_version",
    "api_key",
    "user",
    "kind",
    "minute",
    "hour",
    "day",
)
TIME_BUCKETS = {"minute": 60, "hour": 3600, "day": 86_400}
_NS = 1_000_000_000


@dataclass(slots=True)
class StatsRow:
    group: str | int  # the dimension value, or the bucket's Unix seconds for time groups
    count: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


def stats(
    session: Session,
    tenant: str | None,
    start_ns: int,
    end_ns: int,
    group_by: str = "stage",
    *,
    kind: str | None = None,
) -> list[StatsRow]:
    """Count, errors, tokens, cost and latency p50/p95/p99 per group, from the rollups.

    ``group_by``: stage, model (canonical name), snapshot (the stored model name), tenant,
    route, service_version, prompt_name, prompt_version, api_key (the key's name), kind (a
    dimension; '' = none), minute, hour, day (time buckets, UTC) or user (from
    ``user_rollups``: count is requests, i.e. root spans; no percentiles). ``kind`` keeps one
    span kind (e.g. ``llm`` or ``stage``), so a stage's latency is not mixed with the latency
    of the calls inside it.
    """
    if group_by not in GROUP_BYS:
        raise QueryError("group_by", f"must be one of {', '.join(GROUP_BYS)}")
    if kind is not None and kind not in SpanKinds.ALL:  # an unknown kind matched nothing: 200
        raise QueryError("kind", f"must be one of {', '.join(SpanKinds.ALL)}")
    if end_ns <= start_ns:
        raise QueryError("end", "must be after start")
    start, end = start_ns // _NS, -(-end_ns // _NS)
    conn = session.connection()
    if group_by == "user":
        found = aggregates.user_sums(conn, start, end, tenant=None if tenant is None else [tenant])
        rows = [_stats_row(k[1], {**v, "count": v["requests"]}) for k, v in found.items()]
        return sorted(rows, key=_order(False))
    bucket_s = TIME_BUCKETS.get(group_by)
    by = () if bucket_s else (group_by,)
    scope = aggregates.Scope(
        tenant=None if tenant is None else (tenant,), kind=None if kind is None else (kind,)
    )
    groups = {
        k[0]: _stats_row(k[0], v)
        for k, v in aggregates.sums(conn, start, end, by=by, scope=scope, bucket=bucket_s).items()
    }
    blobs: dict[Any, list[bytes | None]] = defaultdict(list)
    for k, (blob,) in aggregates.sketch_rows(conn, start, end, by=by, scope=scope, bucket=bucket_s):
        blobs[k[0]].append(blob)
    for key, row in groups.items():
        q50, q95, q99 = sketch.quantiles(sketch.merge_encoded(blobs[key])).values()
        row.p50_ms, row.p95_ms, row.p99_ms = q50, q95, q99
    return sorted(groups.values(), key=_order(bool(bucket_s)))


def _stats_row(group: str | int, v: dict[str, float]) -> StatsRow:
    return StatsRow(
        group=group,
        count=int(v["count"]),
        errors=int(v["errors"]),
        input_tokens=int(v["input_tokens"]),
        output_tokens=int(v["output_tokens"]),
        cache_read_tokens=int(v.get("cache_read_tokens", 0)),
        cost_usd=float(v["cost_usd"]),
    )


def _order(by_time: bool) -> Any:
    if by_time:
        return lambda r: r.group
    return lambda r: (-r.cost_usd, -r.count, str(r.group))


def stats_dicts(rows: Sequence[StatsRow]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (without the internal sketch list)."""
    return [{name: getattr(r, name) for name in StatsRow.__dataclass_fields__} for r in rows]
