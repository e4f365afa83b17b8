"""Overview's "Spans lost in the app" and Spend's budget figures are the raw spans' true sums."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as app_module
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.dashboard import formats
from glassline.dashboard.env import ENV_DB_URL
from glassline.pricing import format_usd
from glassline.semconv import attributes as a

NS = 1_000_000_000


def _span(rng: random.Random, start_s: int, **fields: object) -> SpanRecord:
    start = start_s * NS
    base: dict[str, object] = {
        "tenant": "acme",
        "trace_id": f"{rng.getrandbits(128):032x}",
        "span_id": f"{rng.getrandbits(64):016x}",
        "name": "chat gpt-4o",
        "start_ns": start,
        "end_ns": start + 50_000_000,
        "kind": "llm",
        "model": "gpt-4o",
    }
    base.update(fields)
    return SpanRecord(**base)  # type: ignore[arg-type]


def _traffic(now_s: int) -> list[SpanRecord]:
    """What SDKs send in the last hour (and two days before, outside the range shown)."""
    rng = random.Random(3)
    spans: list[SpanRecord] = []
    for start in (now_s - 600, now_s - 2 * 86_400):
        for i in range(12):
            decision = ("allow", "deny", "degrade")[i % 3]
            budget = {a.BUDGET_DECISION: decision, a.BUDGET_NAME: "daily"}
            cost: float | None = round(0.001 * (i + 1), 6)
            if decision == "deny":  # not made: no cost, the estimate is what it prevented
                budget[a.BUDGET_PREVENTED_USD] = round(0.01 * (i + 1), 6)
                cost = None
            spans.append(_span(rng, start + i, cost_usd=cost, attributes=budget))
        for lost in (5, 11):  # the export queue's reports (see the SDK's _queue.py)
            spans.append(
                _span(rng, start + 30, name=a.SDK_DROPPED_SPANS, kind="other", model=None,
                      attributes={a.SDK_DROPPED_SPANS: lost})
            )  # fmt: skip
    return spans


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, list[SpanRecord]]:
    import time

    now_s = int(time.time())
    spans = _traffic(now_s)
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('store')) / 'glassline.db'}"
    store = Store.open(url)
    try:
        store.write(spans)
    finally:
        store.engine.dispose()
    return url, now_s, spans


def _open(url: str, monkeypatch: pytest.MonkeyPatch, page: str, end: int) -> dict[str, str]:
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(app_module.__file__, default_timeout=60)
    at.query_params.update({"range": "1h", "end": str(end)})
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return {m.label: m.value for m in at.metric}


def _in_range(spans: list[SpanRecord], start: int, end: int) -> list[SpanRecord]:
    return [s for s in spans if start * NS <= s.start_ns < end * NS]


def test_spend_shows_what_budget_decisions_prevented_and_degraded(seeded, monkeypatch) -> None:
    url, now_s, spans = seeded
    end = (now_s // 60 + 1) * 60
    shown = _in_range(spans, end - 3600, end)

    def decided(decision: str) -> list[SpanRecord]:
        return [s for s in shown if s.attributes.get(a.BUDGET_DECISION) == decision]

    metrics = _open(url, monkeypatch, "spend", end)
    prevented = sum(float(s.attributes[a.BUDGET_PREVENTED_USD]) for s in decided("deny"))  # type: ignore[arg-type]
    degraded = sum(s.cost_usd or 0.0 for s in decided("degrade"))
    assert metrics["Calls denied"] == formats.fmt_int(len(decided("deny"))) == "4"
    assert metrics["Spend prevented"] == format_usd(prevented)
    assert metrics["Calls degraded"] == formats.fmt_int(len(decided("degrade")))
    assert metrics["Spend of degraded calls"] == format_usd(degraded)
    assert metrics["Total spend"] == format_usd(sum(s.cost_usd or 0.0 for s in shown))


def test_overview_shows_the_spans_the_apps_lost(seeded, monkeypatch) -> None:
    url, now_s, spans = seeded
    end = (now_s // 60 + 1) * 60
    lost = sum(
        int(s.attributes[a.SDK_DROPPED_SPANS])  # type: ignore[arg-type]
        for s in _in_range(spans, end - 3600, end)
        if s.name == a.SDK_DROPPED_SPANS
    )
    assert _open(url, monkeypatch, "overview", end)["Spans lost in the app"] == formats.fmt_int(
        lost
    )
    assert lost == 16  # the reports two days ago are outside the range
