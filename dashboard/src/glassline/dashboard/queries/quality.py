"""The Quality page's queries: evaluation scores over time, their distribution, the worst-scored
traces, change markers with prompt versions, and two versions side by side; for a quality
signal (``glassline.fallback``...), its rate over the calls instead of a score.

Scores and signal counts come from ``evaluation_rollups`` through
:mod:`glassline.collector.storage.quality`; calls, cost, tokens, latency and errors from the
span rollups through :mod:`glassline.collector.storage.aggregates`. Both are pre-sampling.

A signal is stored as an evaluation scored 1 (or a count) labelled ``fail``, only when it
happens: its mean is always 1 and its pass rate 0. What it means is how often it happens, its
count over the calls it could have happened on (``RATE_OVER``: LLM or tool calls) in the same
buckets and split. Evaluation rollups know no service version, so a signal's calls are counted
without the sidebar's version filters, as its count is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from glassline.collector.processors.signals import RATE_OVER
from glassline.collector.storage import aggregates, quality
from glassline.collector.storage.sketch import merge_encoded
from glassline.dashboard.queries.rollups import sum_series
from glassline.dashboard.window import Window

__all__ = [
    "compare_versions",
    "quality_names",
    "rate_over",
    "score_distribution",
    "score_trend",
    "signal_rate",
    "signal_traces",
    "worst_scored",
]


def quality_names(conn: Connection, window: Window) -> list[str]:
    return quality.evaluation_names(conn, window.start, window.end, window.tenant)


def rate_over(name: str) -> str | None:
    """The kind of span (``llm``, ``tool``) a quality signal's rate is over; None for an
    evaluation that is a score."""
    return RATE_OVER.get(name)


def _unfiltered(window: Window) -> Window:
    return replace(window, service_version=None, prompt_version=None)


def _counts(found: dict[tuple[Any, ...], quality.ScoreSums], by: str) -> dict[tuple[Any, ...], int]:
    """Signal counts per key, models by canonical name as the span rollups group them."""
    out: dict[tuple[Any, ...], int] = {}
    for key, s in found.items():
        if by == "model":
            key = (*key[:-1], aggregates.canonical_model(key[-1] or ""))
        out[key] = out.get(key, 0) + s.count
    return out


def signal_rate(conn: Connection, window: Window, name: str, by: str) -> pd.DataFrame:
    """A signal's ``signals``, the ``calls`` it is over and their ``rate`` per bucket and
    value of ``by`` (``""``: overall). A bucket with calls and no signal has rate 0; signals
    on a key without such calls (a fallback decided on a stage span) keep their count, with
    no rate."""
    dims = (by,) if by else ()
    column = by or "all"
    found = quality.score_sums(conn, window.start, window.end, name, tenant=window.tenant,
                               by=dims, bucket=window.bucket)  # fmt: skip
    signals = _counts(found, by)
    calls = sum_series(conn, _unfiltered(window), by or None, kinds=[RATE_OVER[name]])
    over = {
        (int(k[0]), *k[1:]): int(n)
        for k, n in zip(calls[["bucket", *dims]].itertuples(index=False, name=None),
                        calls["count"], strict=True)
    }  # fmt: skip
    keys = sorted(set(over) | set(signals), key=lambda k: (k[0], str(k[1:])))
    frame = pd.DataFrame(
        [(pd.Timestamp(k[0], unit="s"), str(k[1]) if by else "all", signals.get(k, 0),
          over.get(k, 0)) for k in keys],
        columns=["time", column, "signals", "calls"],
    )  # fmt: skip
    frame["rate"] = frame["signals"] / frame["calls"].where(frame["calls"] > 0)
    return frame


def signal_traces(conn: Connection, window: Window, name: str, limit: int = 20) -> pd.DataFrame:
    """The spans that carry a signal, highest value (most retries, longest loop) then newest
    first, each with its trace."""
    rows = quality.worst_evaluations(conn, window.start, window.end, name,
                                     tenant=window.tenant, limit=limit, highest=True)  # fmt: skip
    frame = pd.DataFrame(rows, columns=["tenant", "trace_id", "score_value", "stage", "model",
                                        "prompt_version", "time_ns"])  # fmt: skip
    frame.insert(0, "time", pd.to_datetime(frame["time_ns"], unit="ns", utc=True))
    return frame


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


def _signal_rows(
    conn: Connection, window: Window, kind: str, counts: dict[tuple[Any, ...], int], dim: str,
    values: tuple[str, str],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """A signal's side-by-side rows: its count and rate over the calls of ``kind``, counted
    as the rate chart counts them (tool calls get a row: the other rows are LLM calls)."""
    over = replace(_unfiltered(window).scope([kind]), **{dim: values})
    found = aggregates.sums(conn, window.start, window.end, by=(dim,), scope=over)
    rows: dict[str, dict[str, Any]] = {}
    for value in values:
        n, calls = counts.get((value,), 0), found.get((value,), {}).get("count", 0)
        rows[value] = {"signals": n, **({"tool calls": calls} if kind == "tool" else {}),
                       "signal rate": n / calls if calls else None}  # fmt: skip
    return rows


def compare_versions(
    conn: Connection, window: Window, name: str, dim: str, a: str, b: str
) -> pd.DataFrame:
    """Two values of ``dim`` (``model`` or ``prompt_version``) side by side: the evaluation's
    score and pass rate, then from the span rollups the model calls, cost and tokens per call,
    p95 latency and error rate of the calls made with each. A signal's rows are its count,
    the calls it is over and its rate instead of a score."""
    found = quality.score_sums(conn, window.start, window.end, name, tenant=window.tenant,
                               by=(dim,))  # fmt: skip
    scope = replace(window.scope(["llm"]), **{dim: (a, b)})
    sums = aggregates.sums(conn, window.start, window.end, by=(dim,), scope=scope)
    kind = rate_over(name)
    if kind is None:
        rows: dict[str, dict[str, Any]] = {}
        for value in (a, b):
            s = found.get((value,), quality.ScoreSums())
            rows[value] = {"evaluations": s.count, f"{name} mean": s.mean,
                           "pass rate": s.pass_rate}  # fmt: skip
    else:
        rows = _signal_rows(conn, window, kind, _counts(found, dim), dim, (a, b))
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
