"""The Quality page and its queries, on a store holding two prompt versions' judge scores."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as app_module
from glassline.collector.processors.evaluations import EvaluationsProcessor
from glassline.collector.records import SpanEvent
from glassline.collector.storage import Store
from glassline.collector.storage.testing import llm_trace
from glassline.dashboard import queries, tabular
from glassline.dashboard.env import ENV_DB_URL
from glassline.dashboard.markdown import literal
from glassline.dashboard.window import Window
from glassline.pricing import format_usd
from glassline.semconv import attributes as a

HOUR = 3600


def _judged(n: int, at_s: int, version: str, model: str, score: float) -> list:
    spans = llm_trace(n, at_s * 10**9, model=model)
    llm = next(s for s in spans if s.kind == "llm")
    llm.attributes.update({a.PROMPT_NAME: "support-answer", a.PROMPT_VERSION: version})
    llm.prompt_name, llm.prompt_version = "support-answer", version  # as normalize reads them
    llm.events.append(SpanEvent(a.GEN_AI_EVALUATION_RESULT, llm.end_ns, {
        a.GEN_AI_EVALUATION_NAME: "judge", a.GEN_AI_EVALUATION_SCORE_VALUE: score,
        a.GEN_AI_EVALUATION_SCORE_LABEL: "pass" if score >= 0.7 else "fail"}))  # fmt: skip
    return EvaluationsProcessor().process(spans)


@pytest.fixture(scope="module")
def quality_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    now = int(time.time()) // 60 * 60
    url = f"sqlite:///{tmp_path_factory.mktemp('quality') / 'q.db'}"
    store = Store.open(url)
    spans = []
    for n in range(20):  # v7 on the small model 5 h ago, v8 on the big one in the last hour
        spans += _judged(n, now - 5 * HOUR + n * 60, "v7", "gpt-4o-mini", 0.9)
        spans += _judged(100 + n, now - HOUR + n * 60, "v8", "gpt-4o", 0.3 + n / 100)
    store.write(spans)
    store.close()
    return url, now


def test_two_versions_side_by_side_and_the_new_one_is_a_marker(
    quality_store: tuple[str, int],
) -> None:
    url, now = quality_store
    window = Window(now - 6 * HOUR, now + 60, None, 600)
    with create_engine(url).connect() as conn:
        compared = queries.compare_versions(conn, window, "judge", "model", "gpt-4o-mini",
                                            "gpt-4o").set_index("measure")  # fmt: skip
        markers = queries.change_markers(conn, window)
        by_prompt = queries.compare_versions(conn, window, "judge", "prompt_version", "v7",
                                             "v8").set_index("measure")  # fmt: skip
        worst = queries.worst_scored(conn, window, "judge", limit=3)
        trend = queries.score_trend(conn, window, "judge", "prompt_version")
    assert compared.loc["judge mean", "gpt-4o-mini"] == pytest.approx(0.9)
    assert compared.loc["judge mean", "gpt-4o"] == pytest.approx(0.395)
    assert compared.loc["pass rate", "gpt-4o"] == 0.0
    assert compared.loc["calls", "gpt-4o"] == 20
    assert compared.loc["p95 (ms)", "gpt-4o"] == pytest.approx(700, rel=0.02)
    assert any("prompt support-answer v8 first seen" in m for m in markers["label"])
    # Per prompt version, the span figures are those of the calls made with it.
    assert by_prompt.loc["calls", "v8"] == 20
    assert by_prompt.loc["cost per call (USD)", "v8"] == pytest.approx(0.0009)
    assert by_prompt.loc["tokens per call", "v7"] == pytest.approx(1500)
    assert by_prompt.loc["error rate", "v7"] == 0.0
    assert list(worst["score_value"]) == pytest.approx([0.3, 0.31, 0.32])
    assert set(trend["prompt_version"]) == {"v7", "v8"}


def test_the_quality_page_renders_trends_worst_traces_and_comparison(
    quality_store: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = quality_store
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.run()
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Quality"
    captions = "\n".join(c.value for c in at.caption)
    assert literal("prompt support-answer v8 first seen") in captions  # markdown escaped
    worst, compared = at.dataframe[0].value, at.dataframe[1].value
    assert worst["score_value"].iloc[0] == pytest.approx(0.3)
    assert set(worst["explanation"]) == {tabular.MISSING}  # the judge gave none: a dash, not "None"
    assert {"v7", "v8"} <= set(compared.columns)
    # Each measure reads in its unit: dollars as everywhere else, not 0.0009000000000000001.
    measures = compared.set_index("measure")
    assert measures.loc["cost per call (USD)", "v8"] == format_usd(0.0009) == "$0.0009"
    assert measures.loc["calls", "v8"] == "20"


def test_an_empty_store_says_how_to_get_evaluations(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store.open(url).close()
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.run()
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert "No evaluations" in at.info[0].value
