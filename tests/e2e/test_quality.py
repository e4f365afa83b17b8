"""A new prompt version lowers a judge's score: through the ingest steps into a real store, the
quality alert fires once, the version is a change marker, and the comparison shows both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine

from glassline.collector.alerts import AlertEngine, parse_config
from glassline.collector.config import load_config
from glassline.collector.records import SpanEvent, SpanRecord
from glassline.collector.server import build_processors
from glassline.collector.storage import Store
from glassline.collector.storage.testing import llm_trace
from glassline.dashboard import queries
from glassline.dashboard.window import Window
from glassline.semconv import attributes as a

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def judged_calls(first: int, at: datetime, version: str, score: float) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    for n in range(first, first + 30):
        trace = llm_trace(n, int((at + timedelta(seconds=n % 60)).timestamp() * 1e9))
        llm = next(s for s in trace if s.kind == "llm")
        llm.attributes.update({a.PROMPT_NAME: "support-answer", a.PROMPT_VERSION: version})
        llm.events.append(SpanEvent(a.GEN_AI_EVALUATION_RESULT, llm.end_ns, {
            a.GEN_AI_EVALUATION_NAME: "judge", a.GEN_AI_EVALUATION_SCORE_VALUE: score,
            a.GEN_AI_EVALUATION_EXPLANATION: "compared with the docs"}))  # fmt: skip
        spans += trace
    return spans


def test_a_worse_prompt_version_fires_the_quality_alert_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'quality.db'}"
    store = Store.open(url)
    config = load_config({}, environ={"GLASSLINE_API_KEYS": "acme=test-key-123456"})
    steps = build_processors(config)  # the collector's own chain: redaction included

    def ingest(batch: list[SpanRecord]) -> None:
        for step in steps:
            batch = step.process(batch)
        store.write(batch)

    ingest(judged_calls(0, NOW - timedelta(days=1, minutes=40), "v7", 0.9))  # yesterday
    ingest(judged_calls(100, NOW - timedelta(minutes=40), "v8", 0.5))  # the new version today
    rules = parse_config({"rules": [{"name": "judge-drop", "kind": "quality",
                                     "evaluation": "judge", "drop": 0.1, "min_count": 20}]})  # fmt: skip
    engine = AlertEngine(store, rules)
    try:
        reports = [engine.evaluate_once(NOW + timedelta(minutes=m)) for m in range(5)]
    finally:
        engine.close()
    firing = [n for r in reports for n in r.notices if n.state == "firing"]
    assert [(n.rule.name, n.value) for n in firing] == [("judge-drop", 0.5)]

    window = Window(int((NOW - timedelta(days=2)).timestamp()), int(NOW.timestamp()), None, 3600)
    with create_engine(url).connect() as conn:
        markers = queries.change_markers(conn, Window(int((NOW - timedelta(hours=2)).timestamp()),
                                                       int(NOW.timestamp()), None, 60))  # fmt: skip
        compared = queries.compare_versions(conn, window, "judge", "prompt_version", "v7", "v8")
    assert any("prompt support-answer v8 first seen" in label for label in markers["label"])
    assert not any("v7" in label for label in markers["label"])  # seen before the window
    means = compared.set_index("measure").loc["judge mean"]
    assert (means["v7"], means["v8"]) == pytest.approx((0.9, 0.5))
    store.close()
