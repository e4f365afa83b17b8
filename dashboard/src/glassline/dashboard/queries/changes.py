"""What changed between two periods: each dimension value's contribution to a metric's change.

Read from the rollups only (through :mod:`glassline.collector.storage.aggregates`), so the
figures are pre-sampling totals and the cost does not grow with the number of spans.

A metric is a numerator over a volume. Per dimension value ``v`` with volume ``n`` and rate
``r`` (numerator per unit of volume):

- additive metrics (spend, requests, tokens): the change ``n1*r1 - n0*r0`` splits exactly into
  a **volume** part ``(n1 - n0) * r0`` (more or fewer calls at the old rate) and a **rate**
  part ``n1 * (r1 - r0)`` (each call costs more or less);
- ratio metrics (error rate, tokens per request, cache hit rate): the overall ratio is the
  volume-weighted mean of the values' ratios, and its change splits exactly into a **mix** part
  ``(w1 - w0) * (r0 - R0)`` (the value's share of the volume moved) and a **rate** part
  ``w1 * (r1 - r0)`` (the value's own ratio moved), ``w`` being the share of the volume;
- p95 latency is not additive: each value's own p95 before and after, ranked by its change.

The volume of a value is the spans that make sense for its dimension: requests for a tenant,
a user, a service version or an API key; model calls for a model, a route or a prompt version
(the SDK stamps a stage's prompt on the calls beneath it); stage runs for a stage.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from glassline.collector.storage import aggregates
from glassline.collector.storage.aggregates import REQUEST_KIND, Scope
from glassline.dashboard.queries.ops import alert_history
from glassline.dashboard.sketches import BinMerger
from glassline.dashboard.window import Window

__all__ = [
    "CHANGE_DIMENSIONS",
    "CHANGE_METRICS",
    "Changes",
    "Metric",
    "change_markers",
    "data_start",
    "what_changed",
]


@dataclass(frozen=True, slots=True)
class Metric:
    label: str
    numerator: str  # a rollup measure ("" for a count of the volume itself)
    ratio: bool  # a ratio of sums, not a sum
    denominator: str = "count"  # the measure the ratio divides by
    all_kinds: bool = True  # numerator over every span kind (spend), else the volume's kind


CHANGE_METRICS: dict[str, Metric] = {
    "spend": Metric("Spend (USD)", "cost_usd", ratio=False),
    "requests": Metric("Volume", "", ratio=False),
    "p95": Metric("p95 latency (ms)", "", ratio=False),
    "error_rate": Metric("Error rate", "errors", ratio=True, all_kinds=False),
    "tokens_per_request": Metric("Tokens per unit of volume", "tokens", ratio=True),
    "cache_hit_rate": Metric("Cache hit rate", "cache_hits", True, "cache_lookups"),
}
# Dimension -> the span kind whose count is its volume (None: requests from user_rollups).
CHANGE_DIMENSIONS: dict[str, str | None] = {
    "tenant": REQUEST_KIND,
    "model": "llm",
    "snapshot": "llm",
    "stage": "stage",
    "route": "llm",
    "service_version": REQUEST_KIND,
    "prompt_version": "llm",
    "api_key": REQUEST_KIND,
    "user": None,
}


@dataclass(slots=True)
class Changes:
    """The metric overall before and after, and one row per dimension value."""

    before: float | None
    after: float | None
    rows: pd.DataFrame  # value, volume/metric before/after, change, volume_or_mix, rate, share


def _values(
    conn: Connection, window: Window, metric: Metric, by: str
) -> dict[str, dict[str, float]]:
    """Per value of ``by``: volume, numerator and denominator sums in the window."""
    tenant = (window.tenant,) if window.tenant else None
    kind = CHANGE_DIMENSIONS[by]
    if kind is None:  # users: their requests are counted in user_rollups
        found = aggregates.user_sums(conn, window.start, window.end, tenant=tenant)
        out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (_, user), v in found.items():
            row = out[user]
            row["volume"] += v["requests"]
            row["num"] += _pick(v, metric.numerator, "requests")
            row["den"] += v["requests"] if metric.denominator == "count" else 0
        return out
    volume = aggregates.sums(conn, window.start, window.end, by=(by,), scope=window.scope([kind]))
    if metric.all_kinds:
        scope = window.scope()
        numer = aggregates.sums(conn, window.start, window.end, by=(by,), scope=scope)
    else:
        numer = volume
    out = defaultdict(lambda: defaultdict(float))
    for (value,), v in volume.items():
        out[value]["volume"] = v["count"]
    for (value,), v in numer.items():
        out[value]["num"] = _pick(v, metric.numerator, "count")
        denominator = metric.denominator
        out[value]["den"] = out[value]["volume"] if denominator == "count" else v[denominator]
    return out


def _pick(sums: dict[str, float], name: str, count: str) -> float:
    if name == "tokens":
        return sums.get("input_tokens", 0) + sums.get("output_tokens", 0)
    return float(sums.get(name or count, 0))


def _p95s(
    conn: Connection, window: Window, by: str
) -> tuple[dict[str, tuple[int, float | None]], float | None]:
    """(runs, p95) per value of ``by``, and the p95 of all of them together (of the kind that
    is the volume: requests, model calls or stage runs, as the rows)."""
    kind = CHANGE_DIMENSIONS[by] or REQUEST_KIND
    scope = window.scope([kind])
    merged: dict[str, BinMerger] = defaultdict(BinMerger)
    for (value,), (blob,) in aggregates.sketch_rows(
        conn, window.start, window.end, by=(by,), scope=scope
    ):
        if blob:
            merged[value].add(blob)
    each = {v: (int(m.count), m.quantiles()[0.95]) for v, m in merged.items()}
    overall = BinMerger()
    for m in merged.values():
        overall.merge(m)
    return each, overall.quantiles()[0.95]


def what_changed(conn: Connection, before: Window, after: Window, metric: str, by: str) -> Changes:
    """Rank the values of ``by`` by their contribution to ``metric``'s change."""
    if metric not in CHANGE_METRICS or by not in CHANGE_DIMENSIONS:
        raise ValueError(f"cannot explain {metric!r} by {by!r}")
    if metric == "p95":
        return _p95_changes(conn, before, after, by)
    m = CHANGE_METRICS[metric]
    old, new = _values(conn, before, m, by), _values(conn, after, m, by)
    rows = []
    for value in sorted(set(old) | set(new), key=str):
        o, n = old.get(value, {}), new.get(value, {})
        rows.append([value, o.get("volume", 0.0), n.get("volume", 0.0),
                     o.get("num", 0.0), n.get("num", 0.0), o.get("den", 0.0), n.get("den", 0.0)])  # fmt: skip
    frame = pd.DataFrame(rows, columns=["value", "n0", "n1", "num0", "num1", "den0", "den1"])
    if m.ratio:
        return _ratio_changes(frame)
    if metric == "requests":
        frame["num0"], frame["num1"] = frame["n0"], frame["n1"]
    return _additive_changes(frame)


def _additive_changes(f: pd.DataFrame) -> Changes:
    rate0 = (f["num0"] / f["n0"].where(f["n0"] > 0)).fillna(0.0)
    rate1 = (f["num1"] / f["n1"].where(f["n1"] > 0)).fillna(0.0)
    # A value with no volume before (a new model) has no old rate: all of it is volume.
    rate0 = rate0.where(f["n0"] > 0, rate1)
    out = pd.DataFrame(
        {
            "value": f["value"],
            "volume_before": f["n0"],
            "volume_after": f["n1"],
            "before": f["num0"],
            "after": f["num1"],
            "change": f["num1"] - f["num0"],
            "volume_or_mix": (f["n1"] - f["n0"]) * rate0,
        }
    )
    # n1 * (r1 - r0), except that a numerator outside any volume (spend on spans of another
    # kind) also counts as rate, so the two parts always add up to the change.
    out["rate"] = out["change"] - out["volume_or_mix"]
    return Changes(float(f["num0"].sum()), float(f["num1"].sum()), _ranked(out))


def _ratio_changes(f: pd.DataFrame) -> Changes:
    total0, total1 = f["den0"].sum(), f["den1"].sum()
    overall0 = f["num0"].sum() / total0 if total0 else None
    overall1 = f["num1"].sum() / total1 if total1 else None
    r0 = (f["num0"] / f["den0"].where(f["den0"] > 0)).astype(float)
    r1 = (f["num1"] / f["den1"].where(f["den1"] > 0)).astype(float)
    w0 = f["den0"] / total0 if total0 else f["den0"] * 0.0
    w1 = f["den1"] / total1 if total1 else f["den1"] * 0.0
    base = r0.fillna(r1).fillna(0.0)
    mix = (w1 - w0) * (base - (overall0 or 0.0))
    rate = w1 * (r1.fillna(0.0) - base)
    out = pd.DataFrame(
        {
            "value": f["value"],
            "volume_before": f["n0"],
            "volume_after": f["n1"],
            "before": r0,
            "after": r1,
            "change": mix + rate,
            "volume_or_mix": mix,
            "rate": rate,
        }
    )
    return Changes(overall0, overall1, _ranked(out))


def _p95_changes(conn: Connection, before: Window, after: Window, by: str) -> Changes:
    (old, overall0), (new, overall1) = _p95s(conn, before, by), _p95s(conn, after, by)
    rows: list[list[Any]] = []
    for value in sorted(set(old) | set(new), key=str):
        n0, p0 = old.get(value, (0, None))
        n1, p1 = new.get(value, (0, None))
        change = (p1 - p0) if p0 is not None and p1 is not None else None
        rows.append([value, n0, n1, p0, p1, change, None, change])
    columns = ["value", "volume_before", "volume_after", "before", "after", "change",
               "volume_or_mix", "rate"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    # The tiles: a p95 is no sum of the rows' (it read n/a before and after).
    return Changes(overall0, overall1, _ranked(frame))


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """Largest absolute contribution first; ``share`` of the summed absolute change."""
    size = frame["change"].astype(float).abs()
    total = size.sum()
    frame["share"] = size / total if total else 0.0
    order = size.fillna(-1).sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


_MARKED: dict[str | tuple[str, ...], str] = {
    "service_version": "service version",
    "model": "model",
    "snapshot": "model snapshot",
    "route": "route",
    "stage": "stage",
    ("prompt_name", "prompt_version"): "prompt",
}


def _named(value: Any) -> str:
    return " ".join(v or "?" for v in value) if isinstance(value, tuple) else str(value)


def change_markers(conn: Connection, window: Window) -> pd.DataFrame:
    """Moments something changed in the window, oldest first: a service version, model,
    snapshot, route, stage or prompt version seen for the first time (per tenant when one is
    picked; from the rollups), an alert that started firing. Drawn on every time chart."""
    # Per tenant, whatever version the sidebar filters on: a marker says when it began.
    scope = Scope(tenant=(window.tenant,) if window.tenant else None)
    # Everything is new where a tenant's data begins (a fresh store): not a change.
    begins = set(
        aggregates.first_seen(conn, window.start, window.end, "tenant", scope=scope).values()
    )
    rows = [
        (at, f"{label} {_named(value)} first seen")
        for dim, label in _MARKED.items()
        for value, at in aggregates.first_seen(
            conn, window.start, window.end, dim, scope=scope
        ).items()
        if at not in begins
    ]
    alerts = alert_history(conn, window)
    for event in alerts[alerts["to_state"] == "firing"].itertuples():
        rows.append((int(event.at.timestamp()), f"alert {event.rule} firing ({event.tenant})"))
    frame = pd.DataFrame(rows, columns=["at", "short"]).sort_values("at", ignore_index=True)
    frame["label"] = [
        f"{pd.Timestamp(at, unit='s'):%m-%d %H:%M} UTC: {label}"
        for at, label in zip(frame["at"], frame["short"], strict=True)
    ]
    return frame


def data_start(conn: Connection, window: Window) -> int | None:
    """The first minute in the window with any rollup row (the start of a fresh store's data)."""
    scope = Scope(tenant=(window.tenant,) if window.tenant else None)
    found = aggregates.first_seen(conn, window.start, window.end, "tenant", scope=scope, lookback=0)
    return min(found.values(), default=None)
