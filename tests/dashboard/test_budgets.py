"""The Overview's Budgets section: spend against the collector's budget rules (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
