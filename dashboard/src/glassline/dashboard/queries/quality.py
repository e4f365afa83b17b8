"""The Quality page's queries: evaluation scores over time, their distribution, the worst-scored
traces, change markers with prompt versions, and two versions side by side.

Scores come from ``evaluation_rollups`` through :mod:`glassline.collector.storage.quality`;
cost, tokens, latency and errors of a model from the span rollups through
:mod:`glassline.collector.storage.aggregates`. Both are pre-sampling.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from glassline.collector.storage import aggregates, quality
from glassline.collector.storage.sketch import merge_encoded
from glassline.dashboard.window import Window

__all__ = [
    "compare_versions",
    "quality_names",
    "score_distribution",
    "score_trend",
    "worst_scored",
]


def quality_names(conn: Connection, window: Window) -> list[str]:
    return quality.evaluation_names(conn, window.start, window.end, window.tenant)


def score_trend(conn: Connection, window: Window, name: str, by: str) -> pd.DataFrame:
    """Mean score and pass rate per bucket and value of ``by`` (``""``: overall)."""
    dims = (by,) if by else ()
    found = quality.score_sums(conn, window.start, window.end, name, tenant=window.tenant,
                               by=dims, bucket=window.bucket)  # fmt: skip
    rows = [
        {"time": pd.Timestamp(key[0], unit="s"), by or "all": str(key[1]) if by else "all",
         "mean": s.mean, "pass_rate": s.pass_rate, "count": s.count}
        for key, s in sorted(found.items(), key=lambda kv: kv[0])
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["time", by or "all", "mean", "pass_rate", "count"])


def score_distribution(conn: Connection, window: Window, name: str) -> pd.DataFrame:
    """Scores at the 5th ... 95th percentiles (from the merged sketch; scores < 0 count as 0)."""
    merged = quality.score_sketch(conn, window.start, window.end, name, tenant=window.tenant)
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    values = [merged.get_quantile_value(q) if merged.count else None for q in qs]
    return pd.DataFrame({"percentile": [f"p{int(q * 100)}" for q in qs], "score": values})


def worst_scored(conn: Connection, window: Window, name: str, limit: int = 20) -> pd.DataFrame:
    rows = quality.worst_evaluations(conn, window.start, window.end, name,
                                     tenant=window.tenant, limit=limit)  # fmt: skip
    columns = ["tenant", "trace_id", "score_value", "score_label", "explanation", "model",
               "prompt_version", "time_ns"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def compare_versions(
    conn: Connection, window: Window, name: str, dim: str, a: str, b: str
) -> pd.DataFrame:
    """Two values of ``dim`` (``model`` or ``prompt_version``) side by side: the evaluation's
    score and pass rate, then from the span rollups the model calls, cost and tokens per call,
    p95 latency and error rate of the calls made with each."""
    found = quality.score_sums(conn, window.start, window.end, name, tenant=window.tenant,
                               by=(dim,))  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for value in (a, b):
        s = found.get((value,), quality.ScoreSums())
        rows[value] = {"evaluations": s.count, f"{name} mean": s.mean, "pass rate": s.pass_rate}
    scope = replace(window.scope(["llm"]), **{dim: (a, b)})
    sums = aggregates.sums(conn, window.start, window.end, by=(dim,), scope=scope)
    blobs: dict[str, list[bytes | None]] = {a: [], b: []}
    for key, (blob,) in aggregates.sketch_rows(conn, window.start, window.end, by=(dim,),
                                               scope=scope):  # fmt: skip
        if key[0] in blobs:
            blobs[key[0]].append(blob)
    for value in (a, b):
        v = sums.get((value,), {})
        calls = v.get("count", 0) or 0
        merged = merge_encoded(blobs[value])
        rows[value].update({
            "calls": calls,
            "cost per call (USD)": v.get("cost_usd", 0) / calls if calls else None,
            "tokens per call": (v.get("input_tokens", 0) + v.get("output_tokens", 0)) / calls
            if calls else None,
            "p95 (ms)": merged.get_quantile_value(0.95) if merged.count else None,
            "error rate": v.get("errors", 0) / calls if calls else None,
        })  # fmt: skip
    return pd.DataFrame(rows).rename_axis("measure").reset_index()
