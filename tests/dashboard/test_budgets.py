"""The Overview's Budgets section: spend against the collector's budget rules (AppTest)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from glassline.collector.alerts import slo as slo_kind
from glassline.collector.alerts.config import load_config
from glassline.collector.alerts.slo import slo_status
from glassline.collector.records import SpanRecord
from glassline.collector.storage import Store
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.dashboard.env import ENV_ALERTS_CONFIG

from .seed import Traffic
from .test_app import _open, _text


def _rule_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(body)
    return str(path)


def _budgets(at) -> object:
    frames = [d.value for d in at.dataframe if "limit_usd" in d.value.columns]
    assert len(frames) == 1
    return frames[0]


def test_a_breached_budget_shows_critical_with_the_tenants_spend(
    sqlite_url, monkeypatch, traffic: Traffic, tmp_path
):
    spend = traffic.cost("acme")
    path = _rule_file(tmp_path, f"""
rules:
  - name: acme-daily
    kind: budget
    window: 24h
    filters: {{tenant: acme}}
    limit_usd: {spend / 2}
    warn_usd: {spend / 4}
""")  # fmt: skip
    monkeypatch.setenv(ENV_ALERTS_CONFIG, path)
    table = _budgets(_open(sqlite_url, monkeypatch, tenant="acme"))
    assert list(table["rule"]) == ["acme-daily"]
    assert list(table["state"]) == ["critical"]
    assert table["spend_usd"][0] == pytest.approx(spend)
    assert table["used"][0] == pytest.approx(2.0)


def test_all_tenants_lists_each_tenants_budget(sqlite_url, monkeypatch, traffic: Traffic, tmp_path):
    limit = 10 * traffic.cost()  # far above any tenant's spend
    path = _rule_file(tmp_path, f"""
rules:
  - {{name: daily, kind: budget, window: 24h, limit_usd: {limit}}}
""")  # fmt: skip
    monkeypatch.setenv(ENV_ALERTS_CONFIG, path)
    table = _budgets(_open(sqlite_url, monkeypatch))
    tenants = sorted({r.tenant for r in traffic.records})
    assert sorted(table["tenant"]) == tenants
    assert set(table["state"]) == {"ok"}
    for tenant, spend in zip(table["tenant"], table["spend_usd"], strict=True):
        assert spend == pytest.approx(traffic.cost(tenant))


def test_without_a_rule_file_a_caption_says_how_to_enable_budgets(sqlite_url, monkeypatch):
    monkeypatch.delenv(ENV_ALERTS_CONFIG, raising=False)
    at = _open(sqlite_url, monkeypatch)
    assert "--alerts-config" in _text(at)
    assert not [d for d in at.dataframe if "limit_usd" in d.value.columns]


def test_an_invalid_rule_file_shows_an_error_naming_the_bad_key(sqlite_url, monkeypatch, tmp_path):
    path = _rule_file(tmp_path, """
rules:
  - {name: daily, kind: budget, window: 24h, limit_usd: -5}
""")  # fmt: skip
    monkeypatch.setenv(ENV_ALERTS_CONFIG, path)
    at = _open(sqlite_url, monkeypatch)
    errors = " ".join(e.value for e in at.error)
    assert "limit_usd" in errors and path in errors


def test_slos_show_beside_the_budgets_with_their_burn_rates(
    sqlite_url, monkeypatch, traffic: Traffic, tmp_path
):
    path = _rule_file(tmp_path, """
rules:
  - {name: daily, kind: budget, window: 24h, limit_usd: 1000}
  - {name: available, kind: slo, sli: availability, objective: 0.99}
""")  # fmt: skip
    monkeypatch.setenv(ENV_ALERTS_CONFIG, path)
    at = _open(sqlite_url, monkeypatch, tenant="acme")
    assert len(_budgets(at)) == 1
    [slos] = [d.value for d in at.dataframe if "burn_rate" in d.value.columns]
    assert sorted(slos["burn"]) == ["fast", "slow"]
    assert set(slos["rule"]) == {"available"} and set(slos["tenant"]) == {"acme"}
    assert "SLOs" in _text(at)


def test_a_per_user_budget_lists_the_users_near_it_the_most_used_first(
    sqlite_url, monkeypatch, traffic: Traffic, tmp_path
):
    # Listing every user took 3.5 s of each Overview view at 100,000 users.
    spend: dict[str, float] = {}
    for record in traffic.records:
        if record.tenant == "acme" and record.user_id:
            spend[record.user_id] = spend.get(record.user_id, 0.0) + (record.cost_usd or 0.0)
    lowest, second = sorted(spend.values())[:2]
    limit = lowest + second  # half of it lies between the two least spending users
    path = _rule_file(tmp_path, f"""
rules:
  - {{name: per-user, kind: budget, window: 24h, per: user, limit_usd: {limit}}}
""")  # fmt: skip
    monkeypatch.setenv(ENV_ALERTS_CONFIG, path)
    at = _open(sqlite_url, monkeypatch, tenant="acme")
    near = sorted((u for u, c in spend.items() if c >= limit / 2), key=lambda u: -spend[u])
    assert 0 < len(near) < len(spend)  # some users are far from the budget
    assert list(_budgets(at)["rule"]) == [f"per-user (user={user})" for user in near]
    assert "spent 50% of their warn level (else limit) or more" in _text(at)


SLO_RULES = """
rules:
  - {name: fast, kind: slo, sli: latency, objective: 0.9, threshold_ms: 1000, per: route,
     period: 7d}
"""


def _latency_days(store: Store, end: datetime) -> None:
    """Five past days and the last minutes of three routes: some calls over 1 s each day."""
    spans = []
    for n, (days, minutes) in enumerate(product(range(6), (3, 24 * 60 - 90))):
        at = int((end - timedelta(days=days, minutes=minutes)).timestamp() * 1e9)
        for i in range(30):
            slow = i < (days % 3 + 1) * 2
            spans.append(SpanRecord(
                tenant="acme", trace_id=f"{n:08x}{i:024x}", span_id=f"{i:016x}", name="chat",
                start_ns=at, end_ns=at + (5_000 if slow else 100) * 1_000_000, kind="llm",
                route=f"r{i % 3}",
            ))  # fmt: skip
    at = int((end - timedelta(minutes=3)).timestamp() * 1e9)  # a request: the Overview shows
    spans.append(SpanRecord(tenant="acme", trace_id="f" * 32, span_id="f" * 16, name="answer",
                            start_ns=at, end_ns=at + 10**9, kind="workflow"))  # fmt: skip
    store.write(spans)


@contextmanager
def _reader(url: str, tables: str) -> Iterator[str]:
    """A URL of ``url``'s schema as a new login role that may only SELECT from ``tables``."""
    role = f"gl_read_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            conn.execute(text(f'GRANT SELECT ON {tables} TO "{role}"'))
        yield make_url(url).set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("grants", ["every table", "the tables before slo_counts"])
def test_a_select_only_role_sees_the_slos_of_the_collector_without_an_error(
    monkeypatch, tmp_path, caplog, grants: str
):
    """The dashboard cannot store the day counts it makes: with SELECT only (granted on every
    table, or before an upgrade added ``slo_counts``) it still shows the collector's figures."""
    end = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(slo_kind, "PERIOD_DAYS_PER_PASS", 100)  # all at once
    with isolated_postgres_url() as url:
        store = Store.open(url)
        _latency_days(store, end)
        with store.engine.connect() as conn:
            names = inspect(conn).get_table_names()
        # SELECT on every table, or on those a grant made before the upgrade to 0013 covered.
        tables = ", ".join(f'"{n}"' for n in sorted(names) if grants == "every table" or
                           n != "slo_counts")  # fmt: skip
        monkeypatch.setenv(ENV_ALERTS_CONFIG, _rule_file(tmp_path, SLO_RULES))
        try:
            with _reader(url, tables) as read_only, caplog.at_level(logging.WARNING):
                at = _open(read_only, monkeypatch, tenant="acme", end=str(int(end.timestamp())))
            with store.engine.connect() as conn:
                expected = slo_status(conn, load_config(_rule_file(tmp_path, SLO_RULES)), "acme",
                                      end)  # fmt: skip
        finally:
            store.close()
    [shown] = [d.value for d in at.dataframe if "burn_rate" in d.value.columns]
    assert len(expected) == 6 and all("budget_spent" in e for e in expected)
    assert shown[["burn", "burn_rate", "state", "budget_spent"]].to_dict("records") == [
        {k: e[k] for k in ("burn", "burn_rate", "state", "budget_spent")} for e in expected
    ]
    assert "SLO" in _text(at) and not at.exception and not at.error
    glassline = [r for r in caplog.records if r.name.startswith("glassline")]
    assert [r.getMessage() for r in glassline if r.levelno >= logging.WARNING] == []
