"""The Quality page and its queries, on a store holding two prompt versions' judge scores."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as app_module
from glassline.collector.processors.evaluations import EvaluationsProcessor
from glassline.collector.processors.signals import SignalsProcessor
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


def _signalled(n: int, at_s: int, version: str, **llm: object) -> list:
    """Trace ``n``: its LLM call made with prompt ``version`` (and ``llm`` overrides), through
    the collector's signals step as at ingest."""
    spans = llm_trace(n, at_s * 10**9, **llm)
    call = next(s for s in spans if s.kind == "llm")
    call.attributes.update({a.PROMPT_NAME: "support-answer", a.PROMPT_VERSION: version})
    call.prompt_name, call.prompt_version = "support-answer", version
    if n % 10 == 0:
        next(s for s in spans if s.kind == "tool").status = "error"
    return SignalsProcessor().process(spans)


@pytest.fixture(scope="module")
def signal_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """40 LLM calls in the last hour: 3 of v1's 30 and 5 of v2's 10 fell back (8 of 40);
    4 of the 40 tool calls failed; two calls needed retries (1, then 3)."""
    now = int(time.time()) // 60 * 60
    spans = []
    for n in range(40):
        version = "v1" if n < 30 else "v2"
        fell_back = n in (1, 2, 3) or n >= 35
        retries = {5: 1, 6: 3}.get(n, 0)
        spans += _signalled(n, now - HOUR + 60 + n * 60, version, fallback=fell_back,
                            retries=retries)  # fmt: skip
    url = f"sqlite:///{tmp_path_factory.mktemp('signals') / 's.db'}"
    store = Store.open(url)
    store.write(spans)
    store.close()
    return url, now


def test_a_signal_reads_as_its_rate_over_the_calls_not_as_a_score(
    signal_store: tuple[str, int],
) -> None:
    url, now = signal_store
    window = Window(now - HOUR, now + 60, None, 600)
    with create_engine(url).connect() as conn:
        overall = queries.signal_rate(conn, window, "glassline.fallback", "")
        by_prompt = queries.signal_rate(conn, window, "glassline.fallback", "prompt_version")
        tools = queries.signal_rate(conn, window, "glassline.tool_error", "")
        side = queries.compare_versions(conn, window, "glassline.fallback", "prompt_version",
                                        "v1", "v2").set_index("measure")  # fmt: skip
        traces = queries.signal_traces(conn, window, "glassline.retries")
    assert (overall["signals"].sum(), overall["calls"].sum()) == (8, 40)
    assert overall["rate"].between(0, 1).all() and overall["rate"].min() == 0  # not always 1
    per_version = by_prompt.groupby("prompt_version")[["signals", "calls"]].sum()
    assert per_version.loc["v1"].tolist() == [3, 30]
    assert per_version.loc["v2"].tolist() == [5, 10]
    assert (tools["signals"].sum(), tools["calls"].sum()) == (4, 40)  # over the tool calls
    assert side.loc["signal rate", "v1"] == pytest.approx(0.1)
    assert side.loc["signal rate", "v2"] == pytest.approx(0.5)
    assert side.loc["signals", "v2"] == 5 and side.loc["calls", "v2"] == 10
    assert "pass rate" not in side.index and "glassline.fallback mean" not in side.index
    assert list(traces["score_value"]) == [3.0, 1.0]  # the most retries first


def test_the_quality_page_opens_a_signal_on_its_rate_and_the_traces_that_carry_it(
    signal_store: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = signal_store
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.run()
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert at.selectbox[0].value == "glassline.fallback"  # the most frequent
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["glassline.fallback rate"] == "20.0%"  # 8 of 40 calls, not a mean of 1
    assert tiles["LLM calls"] == "40"
    carrying, compared = at.dataframe[0].value, at.dataframe[1].value
    assert len(carrying) == 8 and "score_label" not in carrying.columns
    measures = compared.set_index("measure")
    assert measures.loc["signal rate", "v1"] == "10.0%"
    assert measures.loc["signal rate", "v2"] == "50.0%"
    assert not any("Worst-scored" in h.value for h in at.subheader)


def test_a_signal_on_spans_without_a_model_is_not_drawn_as_no_signal_per_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the demo: a fallback is decided on a stage span, which has no model. Split by
    # model, each model's line read 0% and the side-by-side 0 signals for both.
    now = int(time.time()) // 60 * 60
    spans = []
    for n in range(10):
        trace = llm_trace(n, (now - 1800 + n * 60) * 10**9,
                          model="gpt-4o" if n % 2 else "gpt-4o-mini")  # fmt: skip
        next(s for s in trace if s.kind == "stage").fallback = n < 4
        spans += SignalsProcessor().process(trace)
    url = f"sqlite:///{tmp_path / 'stage.db'}"
    store = Store.open(url)
    store.write(spans)
    store.close()
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.run()
    at.switch_page("views/quality.py").run()
    at.selectbox[1].set_value("model").run()
    at.selectbox[2].set_value("model").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["glassline.fallback rate"] == "40.0%"
    captions = [c.value for c in at.caption]
    assert any("on spans without a model: its rate over all LLM calls" in c for c in captions)
    assert any("on spans without a model: no rate per model" in c for c in captions)
    assert len(at.dataframe) == 1  # the traces with a fallback; no side-by-side of zeros
