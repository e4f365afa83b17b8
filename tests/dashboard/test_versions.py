"""Versions on the dashboard: a deployment mid-window with a new prompt version.

The app runs 1.0.0 with prompt v1 for 40 minutes, then 1.1.0 with prompt v2, whose calls cost
three times as much. The figures per version are computed here from the raw spans (their
resource and attributes) and compared with the pages; the new versions are change markers on
every time chart; the sidebar filters every figure to a version.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as app_module
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.testing import isolated_postgres_url, llm_trace, versioned
from glassline.dashboard import charts as chart_kit
from glassline.dashboard import queries
from glassline.dashboard.env import ENV_ALERTS_CONFIG, ENV_DB_URL
from glassline.dashboard.window import Window
from glassline.pricing import format_usd
from glassline.semconv import attributes as a

NS = 10**9


def _deploy(url: str) -> tuple[str, int, list[SpanRecord]]:
    """(store URL, the minute 1.1.0 went out, every span written)."""
    now = int(time.time()) // 60 * 60
    release = now - 20 * 60
    spans: list[SpanRecord] = []
    for n in range(60):  # one request a minute for the last hour
        at = now - 60 * 60 + n * 60
        new = at >= release
        trace = llm_trace(n, at * NS, cost_usd=0.003 if new else 0.001,
                          user=f"user-{n % 4}")  # fmt: skip
        spans += versioned(trace, service_version="1.1.0" if new else "1.0.0",
                           prompt=("support-answer", "v2" if new else "v1"),
                           api_key="web" if n % 3 else "batch")  # fmt: skip
    store = Store.open(url)
    store.write(spans)
    store.close()
    return url, release, spans


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, list[SpanRecord]]:
    """The SQLite store the pages render from."""
    return _deploy(f"sqlite:///{tmp_path_factory.mktemp('versions') / 'v.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_deployed(
    request: pytest.FixtureRequest, deployed: tuple[str, int, list[SpanRecord]]
) -> Iterator[tuple[str, int, list[SpanRecord]]]:
    """The same deployment on SQLite and on PostgreSQL (a fresh schema), for the queries."""
    if request.param == "sqlite":
        yield deployed
        return
    with isolated_postgres_url() as url:
        yield _deploy(url)


def _raw_spend(spans: list[SpanRecord], read: Any) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for span in spans:
        out[read(span)] += span.cost_usd or 0.0
    return dict(out)


def _window(release: int) -> Window:
    end = release + 21 * 60
    return Window(end - 2 * 3600, end, None, 300)


def test_what_changed_by_version_and_key_matches_the_raw_spans(any_deployed) -> None:
    url, release, spans = any_deployed
    window = _window(release)
    before, after = Window(window.start, release, None, 300), Window(release, window.end, None, 300)
    service = _raw_spend(spans, lambda s: s.resource[a.SERVICE_VERSION])
    prompt = _raw_spend([s for s in spans if s.kind == "llm"],
                        lambda s: s.attributes[a.PROMPT_VERSION])  # fmt: skip
    key = _raw_spend(spans, lambda s: s.attributes[a.API_KEY_NAME])
    with create_engine(url).connect() as conn:
        by_service = queries.what_changed(conn, before, after, "spend", "service_version").rows
        by_prompt = queries.what_changed(conn, before, after, "spend", "prompt_version").rows
        by_key = queries.what_changed(conn, window, window, "spend", "api_key").rows
    got = {r.value: r.before + r.after for r in by_service.itertuples()}
    assert got == pytest.approx(service)
    # The prompt explains the spend of the calls made with it (the rest has no prompt: '').
    got = {r.value: r.before + r.after for r in by_prompt.itertuples() if r.value}
    assert got == pytest.approx(prompt)
    assert {r.value: r.after for r in by_key.itertuples()} == pytest.approx(key)
    assert by_service.iloc[0]["value"] == "1.1.0"  # the new version explains the change


def test_new_versions_are_change_markers_at_their_first_minute(any_deployed) -> None:
    url, release, _ = any_deployed
    with create_engine(url).connect() as conn:
        markers = queries.change_markers(conn, _window(release))
    found = dict(zip(markers["short"], markers["at"], strict=True))
    assert found["service version 1.1.0 first seen"] == release
    assert found["prompt support-answer v2 first seen"] == release
    # Where the data begins everything is new: no marker for what was there from the start.
    assert not any("1.0.0" in s or " v1 " in s for s in markers["short"])


def _vlines(at: AppTest) -> list[list[tuple[str, list[str]]]]:
    """Per time chart on the page, its dotted vertical lines: x, and the labels on hover."""
    charts = []
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        xs = [t.get("x") for t in figure["data"]]
        if not any(isinstance(x, list) and x and str(x[0]).startswith("20") for x in xs):
            continue  # not a time axis (a bar per model, a contribution per value)
        if figure["layout"].get("xaxis", {}).get("type") == "category":
            continue  # days as labels (Spend per day): a day is the unit, no moment to mark
        shapes = figure["layout"].get("shapes", [])
        # The marker labels; not the note on buckets the range holds only in part.
        notes = [n for n in figure["layout"].get("annotations", [])
                 if n.get("text") != chart_kit.PARTIAL_NOTE]  # fmt: skip
        lines = [s["x0"] for s in shapes if s.get("line", {}).get("dash") == "dot"]
        charts.append([
            (x, note["hovertext"].split("<br>"))
            for x, note in zip(lines, notes, strict=True)
        ])  # fmt: skip
    return charts


@pytest.mark.parametrize("page", ["overview", "latency", "spend", "people", "changes"])
def test_every_time_chart_draws_the_markers(
    deployed, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    url, release, _ = deployed
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.query_params.update(range="6h", end=str(release + 21 * 60))
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    charts = _vlines(at)
    assert charts, "no time chart on the page"
    minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(release))
    for lines in charts:
        # The service version and the prompt version, first seen in the same minute: one line.
        ((x, labels),) = lines
        assert x.startswith(minute)
        assert sorted(label.split(" UTC: ")[1] for label in labels) == [
            "prompt support-answer v2 first seen",
            "service version 1.1.0 first seen",
        ]


def test_the_sidebar_filters_every_figure_to_one_service_version(
    deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, release, spans = deployed
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.query_params.update(range="6h", end=str(release + 21 * 60), version="1.1.0")
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="version").value == "1.1.0"
    spend = _raw_spend(spans, lambda s: s.resource[a.SERVICE_VERSION])["1.1.0"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spend"] == format_usd(spend)
    assert metrics["Requests"] == str(sum(1 for s in spans if s.kind == "workflow"
                                          and s.service_version == "1.1.0"))  # fmt: skip
    at.switch_page("views/traces.py").run()
    listed = set(at.dataframe[0].value["trace_id"])
    assert listed == {s.trace_id for s in spans if s.service_version == "1.1.0"}


def test_quality_compares_two_prompt_versions_on_cost_from_the_span_rollups(
    any_deployed,
) -> None:
    url, release, spans = any_deployed
    calls = {
        v: [s for s in spans if s.kind == "llm" and s.prompt_version == v] for v in ("v1", "v2")
    }
    with create_engine(url).connect() as conn:
        compared = queries.compare_versions(conn, _window(release), "judge", "prompt_version",
                                            "v1", "v2").set_index("measure")  # fmt: skip
    for version, made in calls.items():
        assert compared.loc["calls", version] == len(made)
        assert compared.loc["cost per call (USD)", version] == pytest.approx(
            sum(s.cost_usd or 0 for s in made) / len(made)
        )
        tokens = sum(s.input_tokens + s.output_tokens for s in made) / len(made)
        assert compared.loc["tokens per call", version] == pytest.approx(tokens)
        assert compared.loc["error rate", version] == 0.0


def test_the_overview_lists_a_budget_per_api_key(
    deployed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, release, spans = deployed
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: per-key, kind: budget, window: 24h, per: [api_key],"
                     " limit_usd: 0.03}\n")  # fmt: skip
    monkeypatch.setenv(ENV_DB_URL, url)
    monkeypatch.setenv(ENV_ALERTS_CONFIG, str(rules))
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.query_params.update(range="6h", end=str(release + 21 * 60))
    at.run()
    assert not at.exception, at.exception
    [table] = [d.value for d in at.dataframe if "limit_usd" in d.value.columns]
    spend = _raw_spend(spans, lambda s: s.attributes[a.API_KEY_NAME])
    rows = dict(zip(table["rule"], table["spend_usd"], strict=True))
    assert rows == pytest.approx({f"per-key (api_key={k})": v for k, v in spend.items()})
    states = dict(zip(table["rule"], table["state"], strict=True))
    assert states == {f"per-key (api_key={k})": "critical" if v >= 0.03 else "ok"
                      for k, v in spend.items()}  # fmt: skip


def test_user_spend_adds_up_on_both_databases(any_deployed) -> None:
    # PostgreSQL sums BIGINT token columns as NUMERIC: the Spend page adds them to floats.
    url, release, spans = any_deployed
    with create_engine(url).connect() as conn:
        users = queries.user_spend(conn, _window(release))
    by_user: dict[str, float] = defaultdict(float)
    trace_users = {s.trace_id: s.user_id for s in spans if s.kind == "workflow"}
    for span in spans:
        by_user[trace_users[span.trace_id]] += span.cost_usd or 0.0
    assert dict(zip(users["user_id"], users["cost_usd"], strict=True)) == pytest.approx(by_user)
