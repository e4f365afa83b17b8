"""Aggregates for the Overview, Latency and Spend pages, read only from the rollup tables.

Every figure here (spend, tokens, counts, percentiles) comes from the rollups, which count each
span once before sampling, so they are true totals; raw spans are never scanned. The tables are
read through :mod:`glassline.collector.storage.aggregates`, the same module alert evaluation
uses, so a page and an alert never disagree about a figure.

Requests are ``workflow`` spans (one per request an instrumented app serves); end-to-end
latency is their sketch, model-call latency the sketch of ``llm`` spans. Models are grouped by
canonical name (``model``); ``snapshot`` is the dated name the provider answered with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from glassline.collector.storage import aggregates
from glassline.collector.storage.aggregates import MEASURES, REQUEST_KIND, Scope
from glassline.dashboard.sketches import QUANTILES, BinMerger
from glassline.dashboard.window import Window
from glassline.semconv.attributes import SpanKinds

__all__ = [
    "DIMENSIONS",
    "MEASURES",
    "REQUEST_KIND",
    "PercentileView",
    "Totals",
    "breakdown",
    "cube",
    "group",
    "llm_latency",
    "percentile_views",
    "percentiles",
    "request_latency",
    "spend_between",
    "sum_series",
    "tenants",
    "totals",
    "totals_from",
    "user_spend",
    "versions",
]

# What series and percentiles split by; a page's cube (one scan, grouped in memory) holds the
# first six, the versions and the API key are read per chart (they multiply the rows).
DIMENSIONS = ("model", "snapshot", "stage", "route", "tenant", "kind", "service_version",
              "prompt_name", "prompt_version", "api_key")  # fmt: skip
_CUBE = ("snapshot", "stage", "route", "tenant", "kind")


def _frame(found: dict[tuple[Any, ...], dict[str, float]], keys: Sequence[str]) -> pd.DataFrame:
    rows = [(*k, *(v[m] for m in MEASURES)) for k, v in found.items()]
    return pd.DataFrame(rows, columns=[*keys, *MEASURES])


@dataclass(slots=True)
class Totals:
    """Headline figures for one window."""

    requests: int = 0
    request_errors: int = 0
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    retries: int = 0
    fallbacks: int = 0
    sdk_lost_spans: int = 0  # spans the apps' SDKs reported lost before export
    budget_denied: int = 0  # calls a budget denied ...
    budget_prevented_usd: float = 0.0  # ... and what they were estimated to cost
    budget_degraded: int = 0  # calls a budget degraded ...
    budget_degraded_usd: float = 0.0  # ... and what they cost
    latency_ms: dict[float, float | None] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.request_errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None


def cube(conn: Connection, window: Window) -> pd.DataFrame:
    """Sums per (snapshot, stage, route, tenant, kind) plus the canonical ``model``: one scan
    feeds a whole page; :func:`group` and :func:`totals_from` derive breakdowns in memory."""
    found = aggregates.sums(conn, window.start, window.end, by=_CUBE, scope=window.scope())
    frame = _frame(found, _CUBE)
    frame.insert(0, "model", frame["snapshot"].map(aggregates.canonical_model))
    return frame


def group(frame: pd.DataFrame, by: str, kinds: Sequence[str] | None = None) -> pd.DataFrame:
    """Sums per value of ``by`` from a :func:`cube` frame, by cost descending."""
    if by not in frame.columns:
        raise ValueError(f"cannot group this cube by {by!r}; choose one of {['model', *_CUBE]}")
    if kinds:
        frame = frame[frame["kind"].isin(kinds)]
    grouped = frame.groupby(by, as_index=False, sort=False)[list(MEASURES)].sum()
    return grouped.sort_values(["cost_usd", by], ascending=[False, True], ignore_index=True)


def totals_from(frame: pd.DataFrame) -> Totals:
    """Headline sums from a :func:`cube` frame (without percentiles, which need sketches)."""
    sums = frame[list(MEASURES)].sum()
    requests = frame.loc[frame["kind"] == REQUEST_KIND, ["count", "errors"]].sum()
    return Totals(
        requests=int(requests["count"]),
        request_errors=int(requests["errors"]),
        cost_usd=float(sums["cost_usd"]),
        input_tokens=int(sums["input_tokens"]),
        output_tokens=int(sums["output_tokens"]),
        cache_read_tokens=int(sums["cache_read_tokens"]),
        cache_hits=int(sums["cache_hits"]),
        cache_lookups=int(sums["cache_lookups"]),
        retries=int(sums["retries"]),
        fallbacks=int(sums["fallbacks"]),
        sdk_lost_spans=int(sums["sdk_lost_spans"]),
        budget_denied=int(sums["budget_denied"]),
        budget_prevented_usd=float(sums["budget_prevented_usd"]),
        budget_degraded=int(sums["budget_degraded"]),
        budget_degraded_usd=float(sums["budget_degraded_usd"]),
    )


def request_latency(conn: Connection, window: Window) -> dict[float, float | None]:
    """End-to-end p50/p95/p99 (ms): the merged sketches of ``workflow`` spans."""
    return _latency_of(conn, window, REQUEST_KIND)


def llm_latency(conn: Connection, window: Window) -> dict[float, float | None]:
    """p50/p95/p99 (ms) of model calls (``llm`` spans, each attempt its own). A request
    answered from a cache makes none, so its fraction of a millisecond is not in them."""
    return _latency_of(conn, window, SpanKinds.LLM)


def _latency_of(conn: Connection, window: Window, kind: str) -> dict[float, float | None]:
    rows = aggregates.sketch_rows(conn, window.start, window.end, scope=window.scope([kind]))
    return BinMerger().add_many(blob for _, (blob,) in rows).quantiles()


def totals(conn: Connection, window: Window) -> Totals:
    """Requests, errors, spend, tokens, cache, retries and end-to-end p50/p95/p99."""
    result = totals_from(cube(conn, window))
    result.latency_ms = request_latency(conn, window)
    return result


def breakdown(
    conn: Connection, window: Window, by: str, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per value of one dimension (model, stage, route, tenant, kind), by cost descending."""
    return group(cube(conn, window), by, kinds)


def sum_series(
    conn: Connection, window: Window, by: str | None = None, kinds: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sums per chart bucket (and per value of ``by``); ``time`` is a UTC timestamp.

    ``kinds=["workflow"]`` gives requests (``count``) and request errors per bucket.
    """
    keys = (by,) if by else ()
    found = aggregates.sums(
        conn,
        window.start,
        window.end,
        by=keys,
        scope=window.scope(kinds),
        bucket=window.bucket,
    )
    return _with_time(_frame(found, ["bucket", *keys]))


def _with_time(frame: pd.DataFrame) -> pd.DataFrame:
    frame["time"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s", utc=True)
    return frame.sort_values("time", ignore_index=True)


@dataclass(slots=True)
class PercentileView:
    """p50/p95/p99 (ms) of one sketch column: per bucket and over the whole window."""

    over_time: pd.DataFrame  # bucket, time, <by>, count, p50, p95, p99
    overall: pd.DataFrame  # <by>, count, p50, p95, p99; slowest p95 first


_SKETCHES = ("latency_sketch", "ttft_sketch")


def percentile_views(
    conn: Connection,
    window: Window,
    by: str,
    kinds: Sequence[str],
    sketches: Sequence[str] = ("latency_sketch",),
) -> dict[str, PercentileView]:
    """Per sketch column, percentiles per value of ``by`` over time and overall, in ONE scan.

    Each rollup row is read once; the overall figures merge the per-bucket sketches.
    """
    if by not in DIMENSIONS or not set(sketches) <= set(_SKETCHES):
        raise ValueError(f"cannot compute percentiles of {sketches!r} by {by!r}")
    groups: dict[str, defaultdict[tuple[Any, ...], BinMerger]]
    groups = {name: defaultdict(BinMerger) for name in sketches}
    rows = aggregates.sketch_rows(
        conn,
        window.start,
        window.end,
        by=(by,),
        scope=window.scope(kinds),
        bucket=window.bucket,
        columns=sketches,
    )
    for key, blobs in rows:
        for name, blob in zip(sketches, blobs, strict=True):
            if blob:
                groups[name][key].add(blob)
    return {name: _views(merged, by) for name, merged in groups.items()}


def _row(key: list[Any], merger: BinMerger) -> list[Any]:
    q = merger.quantiles()
    return [*key, int(merger.count), *(q[x] for x in QUANTILES)]


_STATS = ["count", "p50", "p95", "p99"]


def _views(groups: dict[tuple[Any, Any], BinMerger], by: str) -> PercentileView:
    totals: dict[Any, BinMerger] = defaultdict(BinMerger)
    for (_, value), merger in groups.items():
        totals[value].merge(merger)
    over_time = pd.DataFrame(
        [_row([b, v], m) for (b, v), m in groups.items()], columns=["bucket", by, *_STATS]
    )
    return PercentileView(over_time=_with_time(over_time), overall=_overall(totals, by))


def _overall(totals: dict[Any, BinMerger], by: str) -> pd.DataFrame:
    overall = pd.DataFrame([_row([v], m) for v, m in totals.items()], columns=[by, *_STATS])
    return overall.sort_values(["p95", by], ascending=[False, True], ignore_index=True)


def percentiles(
    conn: Connection,
    window: Window,
    by: str,
    kinds: Sequence[str],
    over_time: bool,
    sketch: str = "latency_sketch",
) -> pd.DataFrame:
    """p50/p95/p99 (ms) per value of ``by`` (and per bucket if ``over_time``), merged sketches.

    ``sketch`` is ``latency_sketch`` or ``ttft_sketch``. Without ``over_time`` rows come back
    sorted by p95, slowest first.
    """
    if over_time:
        return percentile_views(conn, window, by, kinds, (sketch,))[sketch].over_time
    if by not in DIMENSIONS or sketch not in _SKETCHES:
        raise ValueError(f"cannot compute percentiles of {sketch!r} by {by!r}")
    # Without chart buckets the hour and day rollups answer most of the range: a day reads
    # a few dozen rows per value instead of 1,440 minute rows.
    totals: dict[Any, BinMerger] = defaultdict(BinMerger)
    rows = aggregates.sketch_rows(
        conn, window.start, window.end, by=(by,), scope=window.scope(kinds),
        columns=(sketch,),
    )  # fmt: skip
    for (value,), (blob,) in rows:
        if blob:
            totals[value].add(blob)
    return _overall(totals, by)


def user_spend(conn: Connection, window: Window, limit: int = 20) -> pd.DataFrame:
    """Top users by spend in the window (spans without a user are not in ``user_rollups``);
    a user id seen in several tenants is summed over them."""
    found = aggregates.user_sums(
        conn, window.start, window.end, tenant=[window.tenant] if window.tenant else None,
        by_tenant=False, costliest=limit,
    )  # fmt: skip
    columns = ["user_id", "requests", "input_tokens", "output_tokens", "cost_usd"]
    frame = pd.DataFrame(
        [(user, *(v[c] for c in columns[1:])) for (user,), v in found.items()], columns=columns
    )
    return frame.sort_values(["cost_usd", "user_id"], ascending=[False, True], ignore_index=True)


def spend_between(conn: Connection, start: int, end: int, tenant: str | None) -> float:
    """Total spend in ``[start, end)`` (Unix seconds), e.g. today or this month."""
    found = aggregates.sums(conn, start, end, scope=Scope(tenant=(tenant,) if tenant else None))
    return float(sum(v["cost_usd"] for v in found.values()))


def versions(conn: Connection, window: Window) -> dict[str, list[str]]:
    """The service and prompt versions with data in the window, for the sidebar's filters."""
    scope = Scope(tenant=(window.tenant,) if window.tenant else None)
    out: dict[str, list[str]] = {}
    for dim in ("service_version", "prompt_version"):
        found = aggregates.sums(conn, window.start, window.end, by=(dim,), scope=scope)
        out[dim] = sorted(k[0] for k in found if k[0])
    return out


def tenants(conn: Connection, window: Window) -> list[str]:
    """Tenants with data in the window, for the tenant selector."""
    return sorted(k[0] for k in aggregates.sums(conn, window.start, window.end, by=("tenant",)))
