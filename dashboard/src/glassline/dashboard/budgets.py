"""Budgets and SLOs on the Overview: live spend of the collector's budget rules and burn rates
of its SLO rules, per tenant.

The rules come from the collector's alert rule file (``--alerts-config`` or
``GLASSLINE_ALERTS_CONFIG``), read and validated with the collector's own loader, and the
figures from the collector's ``budget_status`` and ``slo_status``, so the dashboard,
``GET /api/v1/budgets`` and ``GET /api/v1/slos`` always agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Connection

from glassline.collector.alerts.api import budget_status
from glassline.collector.alerts.config import (
    AlertConfigError,
    AlertsConfig,
    BudgetRule,
    load_config,
)
from glassline.collector.alerts.slo import slo_status
from glassline.collector.alerts.units import unit_of
from glassline.dashboard import data, navigation, queries, tabular, ui
from glassline.dashboard.db import db_url_from_env
from glassline.dashboard.env import ENV_ALERTS_CONFIG
from glassline.dashboard.window import Window

__all__ = ["budget_rows", "rule_units", "show_budgets", "slo_rows"]

COLUMNS = ["tenant", "rule", "window", "spend_usd", "limit_usd", "used", "state", "forecast"]


@st.cache_resource(show_spinner=False)
def _rules(path: str) -> AlertsConfig | list[str]:
    """The validated rule file, or its problems (one ``key: message`` line each)."""
    try:
        return load_config(path)
    except AlertConfigError as exc:
        return exc.errors


def _status(
    url: str, path: str, tenants: tuple[str, ...], now_s: int, status: Callable[..., Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """``status(conn, config, tenants, now)`` entries, as (tenant, rule label, entry)."""
    config = _rules(path)
    assert isinstance(config, AlertsConfig)  # callers check the file first
    now = datetime.fromtimestamp(now_s, UTC)
    out = []
    with data.engine(url).connect() as conn:
        for entry in status(conn, config, list(tenants), now):
            labels = ", ".join(f"{k}={v}" for k, v in entry["labels"].items())
            out.append((entry["tenant"], f"{entry['rule']} ({labels})" if labels else entry["rule"],
                        entry))  # fmt: skip
    return out


def _slo_status(
    conn: Connection, config: AlertsConfig, tenants: list[str], now: datetime
) -> list[dict[str, Any]]:
    return [entry for tenant in tenants for entry in slo_status(conn, config, tenant, now)]


def rule_units() -> dict[str, str]:
    """Each rule's unit of value and threshold (``usd``, ``ms``, ``share``, ...) from the rule
    file; empty without a valid one."""
    path = os.environ.get(ENV_ALERTS_CONFIG)
    config = _rules(path) if path else None
    if not isinstance(config, AlertsConfig):
        return {}
    return {rule.name: unit_of(rule) for rule in config.rules}


# A budget kept per user lists the users near it, as a guard reads it: listing all of them
# took 3.5 s at 100,000 users, on every view of the Overview, for rows nobody scrolls to.
MIN_SHARE = 0.5


@st.cache_data(ttl=data.QUERY_TTL_S, show_spinner=False)
def budget_rows(url: str, path: str, tenants: tuple[str, ...], now_s: int) -> pd.DataFrame:
    """One row per budget for each tenant, as of ``now_s``, the most used first; of a
    ``per`` budget, the keys that spent ``MIN_SHARE`` of its lowest level or more."""
    status = partial(budget_status, min_share=MIN_SHARE)
    rows = [
        [tenant, rule, b["window"], b["spend_usd"], b["limit_usd"], b["spend_usd"] / b["limit_usd"],
         b["state"], b["forecast"]]
        for tenant, rule, b in _status(url, path, tenants, now_s, status)
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("used", ascending=False, kind="stable", ignore_index=True)


SLO_COLUMNS = ["tenant", "rule", "sli", "objective", "burn", "burn_rate", "threshold", "state",
               "budget_spent"]  # fmt: skip


@st.cache_data(ttl=data.QUERY_TTL_S, show_spinner=False)
def slo_rows(url: str, path: str, tenants: tuple[str, ...], now_s: int) -> pd.DataFrame:
    """One row per SLO rule, key and burn condition (fast / slow) for each tenant."""
    rows = [
        [tenant, rule, s["sli"], s["objective"], s["burn"], s["burn_rate"], s["threshold"],
         s["state"], s.get("budget_spent")]
        for tenant, rule, s in _status(url, path, tenants, now_s, _slo_status)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=SLO_COLUMNS)


def show_budgets(window: Window) -> None:
    """The "Budgets" section: spend against each budget rule for the selected tenant(s)."""
    st.subheader("Budgets")
    path = os.environ.get(ENV_ALERTS_CONFIG)
    if not path:
        st.caption(
            "Start with `glassline-dashboard --alerts-config rules.yaml` (or set "
            f"`{ENV_ALERTS_CONFIG}`) to see spend against the collector's budget rules."
        )
        return
    config = _rules(path)
    if not isinstance(config, AlertsConfig):
        st.error(f"Invalid alert rule file {path}: " + "; ".join(config))
        return
    tenants = [window.tenant] if window.tenant else data.run(queries.tenants, window)
    # Budgets are "as of now" unless the window is pinned to the past.
    frame = budget_rows(db_url_from_env(), path, tuple(tenants), window.end)
    if frame.empty:
        st.caption(f"No budget rule in {path} applies to this tenant.")
    else:
        if any(isinstance(rule, BudgetRule) and rule.per for rule in config.rules):
            share = f"{MIN_SHARE:.0%}"
            st.caption(f"Budgets kept per user, model, stage or key list the keys that have "
                       f"spent {share} of their warn level (else limit) or more; the most used "
                       "budgets first.")  # fmt: skip
        picked = tabular.table(frame, _column_config(), key="gl_budgets", csv_name="budgets.csv")
        if picked and picked.selection.rows:  # a budget's tenant: its costliest traces
            tenant = str(frame.iloc[picked.selection.rows[0]].get("tenant") or "")
            navigation.open_traces(ui.context(), tenant=tenant, sort="costliest")
    slos = slo_rows(db_url_from_env(), path, tuple(tenants), window.end)
    if not slos.empty:
        st.subheader("SLOs")
        st.caption("Burn rate: the bad share over the error budget (1 - objective), in both "
                   "windows of a condition; budget_spent: share of the period's budget used.")  # fmt: skip
        picked = tabular.table(slos, {}, key="gl_slos", csv_name="slos.csv")
        if picked and picked.selection.rows:  # an SLO's tenant: its slowest traces
            tenant = str(slos.iloc[picked.selection.rows[0]].get("tenant") or "")
            navigation.open_traces(ui.context(), tenant=tenant, sort="slowest")


def _column_config() -> dict[str, object]:
    return {
        "spend_usd": tabular.usd_column("spend"),
        "limit_usd": tabular.usd_column("limit"),
        "used": st.column_config.ProgressColumn(
            "of limit", format="percent", min_value=0, max_value=1
        ),
        "state": st.column_config.TextColumn("state", help="ok, warn or critical"),
    }
