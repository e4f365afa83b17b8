"""The real app in headless Chromium: every page opens, shows its figures, and is screenshotted.

Runs ``streamlit run`` on a free port against a seeded SQLite store and drives Debian's
Chromium through Playwright (no downloaded browser). Screenshots land in
``test-artifacts/dashboard/`` for a human to look at.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from glassline.collector.records import EvaluationRecord
from glassline.collector.storage import Store
from glassline.collector.testing import free_port
from glassline.dashboard.cli import build_command
from glassline.dashboard.env import ENV_ALERTS_CONFIG, ENV_DB_URL
from glassline.dashboard.window import RANGES
from glassline.pricing import format_usd

from .seed import Traffic

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
# The shared CI machine is slow; Streamlit's first script run can take seconds.
expect.set_options(timeout=30_000)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def _with_evaluations(sqlite_url: str, folder: Path, traffic: Traffic) -> str:
    """A copy of the seeded store plus judge scores of its traces (for the Quality page)."""
    copy = folder / "glassline.db"
    with (
        sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(copy) as target,
    ):
        source.backup(target)
    store = Store.open(f"sqlite:///{copy}")
    judged = [
        EvaluationRecord(tenant=root.tenant, id=f"judge-{i}", name="judge", time_ns=root.end_ns,
                         source="api", trace_id=root.trace_id, span_id=root.span_id,
                         score_value=0.4 + 0.06 * ((i * 7) % 10), prompt_name="support-answer",
                         prompt_version=f"v{1 + i // 15}",
                         score_label="pass" if (i * 7) % 10 >= 5 else "fail")
        for i, root in enumerate(traffic.roots())
    ]  # fmt: skip
    store.write_evaluations(judged)
    store.close()
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def server(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory, traffic: Traffic
) -> Iterator[str]:
    port = free_port()
    folder = tmp_path_factory.mktemp("streamlit")
    sqlite_url = _with_evaluations(sqlite_url, folder, traffic)
    log = (folder / "server.log").open("w")
    rules = folder / "rules.yaml"  # half the seeded spend: the busiest tenant is over budget
    limit = traffic.cost() / 2
    rules.write_text(
        f"rules:\n  - {{name: daily, kind: budget, window: 24h, limit_usd: {limit}}}\n"
    )
    env = {**os.environ, ENV_DB_URL: sqlite_url, ENV_ALERTS_CONFIG: str(rules)}
    proc = subprocess.Popen(build_command(port, "127.0.0.1"), env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "streamlit exited early"
        time.sleep(0.2)  # polling the health endpoint: there is no event to await
    else:
        pytest.fail("streamlit did not become healthy within 60 s")
    yield base
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def _settle(page: Page) -> None:
    """Wait until Streamlit has finished running the script and drawing charts."""
    page.wait_for_selector("[data-testid='stApp']")
    expect(page.locator("[data-testid='stStatusWidget']")).to_have_count(0, timeout=30_000)
    page.wait_for_load_state("networkidle")
    # Elements still being drawn are grey placeholders: a screenshot would show only those.
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_deep_link_as_the_first_request_runs_through_the_app(server: str, page: Page):
    # First test on a fresh server: a page must never run without app.py's sidebar and context.
    page.goto(f"{server}/traces?tenant=globex")
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    expect(page.get_by_text("Click a row or a point to open it")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Time range")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_overview_in_a_browser(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text(format_usd(traffic.cost())).first).to_be_visible()
    expect(page.get_by_role("heading", name="Budgets")).to_be_visible()
    expect(page.get_by_test_id("stError")).to_have_count(0)
    _settle(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    _shot(page, "overview")


@pytest.mark.parametrize(
    ("path", "heading", "text"),
    [
        ("latency", "Latency", "Slowest stages and their trend"),
        ("spend", "Spend", "What caching saved"),
        ("traces", "Traces", "Click a row or a point to open it"),
        ("alerts", "Alerts & Sampling", "No sampling decisions"),
        ("quality", "Quality", "judge: mean score"),
        ("people", "Sessions & users", "Click a session to see its turns"),
    ],
)
def test_each_page_in_a_browser(server: str, page: Page, path: str, heading: str, text: str):
    page.goto(f"{server}/{path}")
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    expect(page.get_by_text(text).first).to_be_visible()
    _settle(page)
    _shot(page, path)


def test_trace_drilldown_from_a_shared_url(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/trace?trace={traffic.error_trace_id}")
    expect(page.get_by_role("heading", name="rag_pipeline")).to_be_visible()
    expect(page.get_by_text("quota exceeded for model").first).to_be_visible()
    expect(page.get_by_text("What is our refund policy?").first).to_be_visible()
    _settle(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    _shot(page, "trace")


def test_tenant_stays_in_the_url_when_switching_pages(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/?tenant=acme&range=6h")
    expect(page.get_by_text(format_usd(traffic.cost("acme"))).first).to_be_visible()
    _settle(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Spend").click()
    expect(page.get_by_role("heading", name="Spend")).to_be_visible()
    expect(page.get_by_text(format_usd(traffic.cost("acme"))).first).to_be_visible()
    page.wait_for_url("**/spend?*tenant=acme*")
    expect(page).to_have_url(re.compile(r"[?&]range=6h(&|$)"))


def test_clicking_a_trace_row_opens_its_drilldown(server: str, page: Page):
    page.goto(f"{server}/traces?range=6h&status=error")
    _settle(page)
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    # The grid is a canvas: the row is clicked by position. A click that lands while the grid
    # is still laying out is lost, so click again (bounded) until the drilldown opens.
    for attempt in range(4):
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + 53)  # the first row's selection checkbox
        try:
            page.wait_for_url("**/trace?*", timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 3:
                raise
            _settle(page)
    # Streamlit writes the bound query parameters after the page script runs: await them.
    expect(page).to_have_url(re.compile(r"[?&]range=6h(&|$)"))
    expect(page.get_by_role("heading", name="rag_pipeline")).to_be_visible()
    expect(page.get_by_text("quota exceeded for model").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _click_first_row(page: Page, grid_index: int, url_glob: str) -> None:
    """Select the first row of a (canvas) table by position until the page switches."""
    grid = page.get_by_test_id("stDataFrame").nth(grid_index)
    expect(grid).to_be_visible()
    for attempt in range(4):
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + 53)
        try:
            page.wait_for_url(url_glob, timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == 3:
                raise
            _settle(page)


def test_journey_overview_what_changed_traces_drilldown(server: str, page: Page):
    page.goto(f"{server}/?range=6h")
    _settle(page)
    page.get_by_test_id("stSidebarNav").get_by_text("What changed").click()
    expect(page.get_by_role("heading", name="What changed")).to_be_visible()
    expect(page.get_by_text("Largest contribution")).to_be_visible()
    _settle(page)
    _shot(page, "what-changed")
    _click_first_row(page, 0, "**/traces?*")  # the largest contributor's traces
    expect(page.get_by_role("heading", name="Traces")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]start=\d+"))
    expect(page).to_have_url(re.compile(r"[?&]sort=costliest"))
    _settle(page)
    _shot(page, "what-changed-traces")
    _click_first_row(page, 0, "**/trace?*")
    expect(page.get_by_role("heading", name="rag_pipeline")).to_be_visible()
    expect(page.get_by_text("Request outcome")).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _settle(page)
    _shot(page, "what-changed-drilldown")


def test_journey_session_view(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/people?range=6h")
    expect(page.get_by_role("heading", name="Sessions & users")).to_be_visible()
    _settle(page)
    sessions = page.get_by_test_id("stDataFrame").nth(1)
    expect(sessions).to_be_visible()
    box = sessions.bounding_box()
    assert box is not None
    for _ in range(4):  # bounded, as above: a click during layout is lost
        page.mouse.click(box["x"] + 15, box["y"] + 53)
        try:
            expect(page.get_by_text("Turns", exact=True).first).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            _settle(page)
    expect(page.get_by_role("heading", name=re.compile(r"^Session session-user-"))).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _settle(page)
    _shot(page, "session")


def test_journey_search_then_trace(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/traces?range=6h")
    _settle(page)
    box = page.get_by_role("textbox", name="Search")
    box.fill("quota -refundless")  # words from the failed call's exception, one excluded
    box.press("Enter")
    page.wait_for_url("**/traces?*q=quota*")
    _settle(page)
    expect(page.get_by_text("Page 1, 1 trace.")).to_be_visible()  # only the failed request
    # The scatter is redrawn after the list: await its one point, not the stale 30.
    expect(page.locator(".js-plotly-plot .scatterlayer path.point")).to_have_count(1)
    _shot(page, "search")
    _click_first_row(page, 0, "**/trace?*")
    expect(page).to_have_url(re.compile(rf"[?&]trace={traffic.error_trace_id}(&|$)"))
    expect(page.get_by_role("heading", name="rag_pipeline")).to_be_visible()
    expect(page.get_by_text("quota exceeded for model").first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _chart(page: Page, title: str) -> Locator:
    """The Plotly chart titled exactly ``title``."""
    title_text = page.locator(".gtitle", has_text=re.compile(rf"^{re.escape(title)}$"))
    chart = page.locator(".js-plotly-plot").filter(has=title_text)
    expect(chart).to_have_count(1)
    chart.scroll_into_view_if_needed()
    return chart


def _click_until(page: Page, target: Locator, url_glob: str) -> None:
    """Click the middle of ``target`` (a bar or a marker: Plotly hit-tests the position)
    until the page switches to ``url_glob``; bounded, like the row clicks above."""
    for attempt in range(4):
        box = target.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        try:
            page.wait_for_url(url_glob, timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == 3:
                raise
            _settle(page)


def test_a_bar_of_top_models_opens_that_models_traces(server: str, page: Page, traffic: Traffic):
    page.goto(f"{server}/?range=6h")
    _settle(page)
    chart = _chart(page, "Top models by spend (USD)")
    tick = chart.locator(".ytick text", has_text=re.compile(r"^gpt-4o-mini$"))
    tick_box = tick.bounding_box()
    assert tick_box is not None
    row = tick_box["y"] + tick_box["height"] / 2
    bars = chart.locator(".barlayer path")
    expect(bars).to_have_count(2)  # gpt-4o and gpt-4o-mini
    bar = next(
        b
        for b in bars.all()
        if (box := b.bounding_box()) and box["y"] <= row <= box["y"] + box["height"]
    )
    _click_until(page, bar, "**/traces?*model=gpt-4o-mini*")
    expect(page).to_have_url(re.compile(r"[?&]sort=costliest(&|$)"))
    _settle(page)
    mini = [r for r in traffic.roots() if r.tenant == "globex"]  # globex calls gpt-4o-mini
    expect(page.get_by_text(f"Page 1, {len(mini)} traces.")).to_be_visible()
    expect(page.locator(".js-plotly-plot .scatterlayer path.point")).to_have_count(len(mini))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _shot(page, "chart-bar-to-traces")


def test_a_point_of_requests_over_time_opens_that_buckets_requests(
    server: str, page: Page, traffic: Traffic
):
    page.goto(f"{server}/?range=6h")
    _settle(page)
    point = _chart(page, "Requests").locator(".scatterlayer path.point").first  # oldest
    bucket = RANGES["6h"][1]  # the range's chart bucket
    start = min(r.start_ns for r in traffic.roots()) // 10**9 // bucket * bucket
    in_bucket = [r for r in traffic.roots() if start <= r.start_ns // 10**9 < start + bucket]
    _click_until(page, point, f"**/traces?*start={start}*")
    expect(page).to_have_url(re.compile(rf"[?&]end={start + bucket}(&|$)"))
    _settle(page)
    noun = "trace" if len(in_bucket) == 1 else "traces"
    expect(page.get_by_text(f"Page 1, {len(in_bucket)} {noun}.")).to_be_visible()
    expect(page.locator(".js-plotly-plot .scatterlayer path.point")).to_have_count(len(in_bucket))
    expect(page.get_by_test_id("stException")).to_have_count(0)
