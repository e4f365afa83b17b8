"""What quality costs: evaluation events on the ingest path, and the alert pass with the slo,
shift and quality rules over 30 days of rollups and evaluation rollups.

    .venv/bin/python -m bench.quality            # 16 batches x 5 rounds; 30 days of rollups
    .venv/bin/python -m bench.quality --quick    # 4 batches x 3 rounds; 3 days

Ingest: batches of 512 spans (llm_trace: workflow, tool, stage, LLM call) through the
``evaluations`` and ``signals`` processors and a SQLite store write, with one
``gen_ai.evaluation.result`` event on every LLM call, against the same batches without events
in the same run (the signals step runs in both); CPU time, the smallest of the rounds.
Alerts: 5 models x 1 stage of minute rollups (216,000 minute rows for 30 days, as many as the
24 h figure in docs/alerts.md) plus their hourly and daily rows, and minute evaluation rollups
for two prompt versions; one ``evaluate_once`` pass of the documented rule file's nine rules
(notifiers stripped) as the baseline, then with an availability SLO, an evaluation SLO, a
model shift and a quality rule added. Wall time, median of the passes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.processors.evaluations import EvaluationsProcessor
from glassline.collector.processors.signals import SignalsProcessor
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.models import DayRollup, EvaluationRollup, HourRollup, Rollup
from glassline.collector.storage.sketch import encode_values
from glassline.collector.storage.testing import llm_trace
from glassline.semconv import attributes as a

DOC = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-3-5-haiku", "gemini-2.0-flash")


def batches(count: int, events: bool) -> list[list[SpanRecord]]:
    out = []
    for b in range(count):
        spans: list[SpanRecord] = []
        for n in range(128):  # 4 spans a trace: 512 spans
            number = b * 1000 + n
            spans += llm_trace(number, int(NOW.timestamp() * 1e9) + number * 10**6)
        if events:
            for span in spans:
                if span.kind == "llm":
                    span.events.append(SpanEvent(a.GEN_AI_EVALUATION_RESULT, span.end_ns, {
                        a.GEN_AI_EVALUATION_NAME: "relevance",
                        a.GEN_AI_EVALUATION_SCORE_VALUE: (span.start_ns % 100) / 100,
                        a.GEN_AI_EVALUATION_SCORE_LABEL: "pass",
                        a.GEN_AI_EVALUATION_EXPLANATION: "cites the retrieved document"}))  # fmt: skip
        out.append(spans)
    return out


def ingest_round(count: int, events: bool) -> tuple[float, int]:
    """CPU seconds to process and store ``count`` batches, and the evaluation events in them."""
    data = batches(count, events)
    steps = [EvaluationsProcessor(), SignalsProcessor()]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        started = time.process_time()
        for batch in data:
            for step in steps:
                batch = step.process(batch)
            store.write(batch)
        spent = time.process_time() - started
        store.close()
    return spent, sum(len(s.events) for b in data for s in b)


def fill_rollups(store: Store, days: int) -> int:
    """Minute, hour and day rollups for 5 models and evaluation rollups; minute rows written."""
    end = int(NOW.timestamp()) // 60 * 60
    start = end - days * 86_400
    blob = encode_values([120.0, 340.0, 900.0, 2500.0])
    scores = encode_values([0.9, 0.7, 0.8])

    def row(bucket: str, at: int, model: str, n: int) -> dict[str, Any]:
        return {bucket: at, "tenant": "acme", "kind": "llm", "stage": "answer", "model": model,
                "route": "", "count": n, "errors": n // 50, "input_tokens": 1200 * n,
                "output_tokens": 300 * n, "cache_read_tokens": 0, "cache_creation_tokens": 0,
                "reasoning_tokens": 0, "cost_usd": 0.001 * n, "cache_hits": 0,
                "cache_lookups": 0, "retries": 0, "fallbacks": 0,
                "duration_sum_ms": 500.0 * n, "latency_sketch": blob, "ttft_sketch": None}  # fmt: skip

    minutes = range(start, end, 60)
    with store.engine.begin() as conn:
        for model in MODELS:
            conn.execute(Rollup.__table__.insert(), [row("minute", m, model, 10) for m in minutes])
            hours = range(start, end, 3600)
            conn.execute(HourRollup.__table__.insert(), [row("hour", h, model, 600) for h in hours])
            days_ = range(start, end, 86_400)
            conn.execute(
                DayRollup.__table__.insert(), [row("day", d, model, 14_400) for d in days_]
            )
        for version in ("v7", "v8"):
            conn.execute(EvaluationRollup.__table__.insert(), [
                {"minute": m, "tenant": "acme", "name": "relevance", "stage": "answer",
                 "model": "gpt-4o", "prompt_name": "support-answer", "prompt_version": version,
                 "count": 3, "scored": 3, "value_sum": 2.4, "labelled": 3, "passed": 2,
                 "sketch": scores}
                for m in minutes
            ])  # fmt: skip
    return len(minutes) * len(MODELS)


QUALITY_RULES = [
    {"name": "slo-availability", "kind": "slo", "sli": "availability", "objective": 0.995,
     "per": "model"},
    {"name": "slo-judge", "kind": "slo", "sli": "evaluation", "evaluation": "relevance",
     "objective": 0.9, "min_score": 0.75},
    {"name": "model-shift", "kind": "shift", "dimension": "model", "points": 20},
    {"name": "judge-quality", "kind": "quality", "evaluation": "relevance", "drop": 0.1,
     "below": 0.5, "per": "prompt_version"},
]  # fmt: skip


def documented_rules() -> list[dict[str, Any]]:
    import re

    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    document = yaml.safe_load(next(b for b in blocks if "rules:" in b and "notifiers:" in b))
    keep = {"budget", "latency", "error_rate", "spike", "cache_hit_rate", "retry_rate", "absent"}
    rules = [r for r in document["rules"] if r["kind"] in keep]
    for rule in rules:
        rule.pop("notifiers", None)  # evaluation only: nothing is sent anywhere
    return rules


def alert_pass(store: Store, rules: list[dict[str, Any]], passes: int) -> list[float]:
    """Seconds per pass: the first (cold: caches empty), then ``passes`` warm ones."""
    engine = AlertEngine(store, parse_config({"rules": rules}))
    times = []
    try:
        for i in range(passes + 1):
            started = time.perf_counter()
            engine.evaluate_once(NOW.replace(second=i))
            times.append(time.perf_counter() - started)
    finally:
        engine.close()
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count, rounds, days, passes = (4, 3, 3, 5) if args.quick else (16, 5, 30, 9)

    without = min(ingest_round(count, events=False)[0] for _ in range(rounds))
    runs = [ingest_round(count, events=True) for _ in range(rounds)]
    with_events, events = min(r[0] for r in runs), runs[0][1]
    spans = count * 512
    print(f"ingest, {spans} spans ({events} with an evaluation event), CPU, best of {rounds}:")
    print(f"  without events  {without / spans * 1e6:7.1f} µs/span (baseline)")
    print(f"  with events     {with_events / spans * 1e6:7.1f} µs/span "
          f"({with_events / without:.2f}x)")  # fmt: skip
    print(f"  per evaluation event: {(with_events - without) / events * 1e6:.1f} µs")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/alerts.db")
        rows = fill_rollups(store, days)
        base_rules = documented_rules()
        base = statistics.median(alert_pass(store, base_rules, passes)[1:])
        cold, *warm = alert_pass(store, base_rules + QUALITY_RULES, passes)
        full = statistics.median(warm)
        print(f"\nalert pass over {days} days ({rows:,} minute rollup rows, "
              f"{rows * 2 // len(MODELS):,} evaluation rollup rows), median of {passes}:")  # fmt: skip
        print(f"  {len(base_rules)} documented rules        {base * 1000:7.1f} ms (baseline)")
        print(f"  + slo x2, shift, quality     {full * 1000:7.1f} ms ({full / base:.2f}x)")
        print(f"    its first pass (cold)      {cold * 1000:7.1f} ms "
              "(merges each past day's score sketches once)")  # fmt: skip
        with store.engine.connect() as conn:
            from glassline.collector.alerts.rules import evaluate_rule

            for rule in parse_config({"rules": QUALITY_RULES}).rules:
                started = time.perf_counter()
                evaluate_rule(rule, conn, NOW)
                print(f"    {rule.name:<22} {(time.perf_counter() - started) * 1000:7.1f} ms")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
