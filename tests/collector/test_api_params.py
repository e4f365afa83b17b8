"""Through the real collector: the HTTP API answers a parameter it does not know, or a value
out of range, with a 400 naming it (the alerting and kill-switch routes as the query API)."""

from __future__ import annotations

from pathlib import Path

import httpx

from glassline.collector.testing import run_collector
from tests.collector.alert_rules import alerting_collector

# (method, path, query, the parameter the 400 must name)
_REFUSED = [
    ("GET", "/api/v1/alerts", {"bogus": "1"}, "bogus"),
    ("GET", "/api/v1/alerts", {"limit": "-5"}, "limit"),
    ("GET", "/api/v1/alerts", {"limit": "1001"}, "limit"),
    ("GET", "/api/v1/alerts", {"limit": "nan"}, "limit"),
    ("GET", "/api/v1/budgets", {"min_shares": "0.5"}, "min_shares"),
    ("GET", "/api/v1/slos", {"tenantt": "acme"}, "tenantt"),
    ("GET", "/api/v1/kill-switches", {"stage": "x"}, "stage"),
    # A misspelt stage must not clear the tenant-wide switch instead.
    ("DELETE", "/api/v1/kill-switches", {"stag": "generate"}, "stag"),
    ("GET", "/api/v1/stats", {"bogus": "1"}, "bogus"),
]


def test_unknown_parameters_and_limits_out_of_range_are_a_400_naming_them(
    tmp_path: Path,
) -> None:
    with alerting_collector(tmp_path) as (collector, client):
        acme = collector.headers("acme")
        set_switch = client.post("/api/v1/kill-switches", json={}, headers=acme)
        answers = [
            (path, query, client.request(method, path, params=query, headers=acme))
            for method, path, query, _ in _REFUSED
        ]
        switches = client.get("/api/v1/kill-switches", headers=acme).json()["kill_switches"]
        edges = [
            client.get("/api/v1/alerts", params={"limit": limit}, headers=acme)
            for limit in ("0", "1000", "")
        ]
    assert set_switch.status_code == 200, set_switch.text
    got = [(path, query, r.status_code, r.json().get("parameter")) for path, query, r in answers]
    assert got == [(path, query, 400, name) for _, path, query, name in _REFUSED]
    assert all(
        name in r.json()["error"] for (*_, name), (*_, r) in zip(_REFUSED, answers, strict=True)
    )
    assert [(s["tenant"], s["stage"]) for s in switches] == [("acme", None)]
    assert [r.status_code for r in edges] == [200, 200, 200]
    assert edges[0].json()["history"] == []


def test_stats_of_a_span_kind_that_does_not_exist_is_a_400_listing_the_kinds(
    tmp_path: Path,
) -> None:
    # It answered 200 with no groups: a typo read as "nothing was called".
    with (
        run_collector(workdir=tmp_path) as collector,
        httpx.Client(base_url=collector.http_endpoint, timeout=30) as client,
    ):
        answers = {
            kind: client.get("/api/v1/stats", params={"kind": kind}, headers=collector.headers())
            for kind in ("bogus", "LLM", "llm", "retry_attempt", "")
        }
    assert {kind: r.status_code for kind, r in answers.items()} == {
        "bogus": 400, "LLM": 400, "llm": 200, "retry_attempt": 200, "": 200,
    }  # fmt: skip
    assert answers["bogus"].json() == {
        "error": "kind: must be one of workflow, stage, llm, tool, retry_attempt, other",
        "parameter": "kind",
    }
