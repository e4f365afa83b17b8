"""Through the real collector: a tenant key that names another tenant in the alerting and
kill-switch API is answered 403, as the rest of the API answers it, and changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.collector.alert_rules import alerting_collector


def test_a_tenant_naming_another_tenant_is_refused_403_and_changes_nothing(
    tmp_path: Path,
) -> None:
    with alerting_collector(tmp_path) as (collector, client):
        acme = collector.headers("acme")
        own = client.post("/api/v1/kill-switches", json={"stage": "generate"}, headers=acme)
        other = {"tenant": "globex"}
        reads = {
            path: client.get(path, params=other, headers=acme)
            for path in ("/api/v1/alerts", "/api/v1/budgets", "/api/v1/slos",
                         "/api/v1/kill-switches")
        }  # fmt: skip
        # /slos answered 500 and the keep-alive connection was then reset: still serving?
        after = client.get("/api/v1/slos", headers=acme)
        posted = client.post("/api/v1/kill-switches", json={**other, "stage": "rank"}, headers=acme)
        deleted = client.delete(
            "/api/v1/kill-switches", params={**other, "stage": "generate"}, headers=acme
        )
        switches = client.get("/api/v1/kill-switches", headers=collector.headers(None))
        globex = client.get("/api/v1/slos", params=other, headers={
            "authorization": f"Bearer {collector.admin_key}"})  # fmt: skip
    assert own.status_code == 200, own.text
    assert {path: r.status_code for path, r in reads.items()} == dict.fromkeys(reads, 403)
    assert all(r.json()["parameter"] == "tenant" for r in reads.values())
    assert after.status_code == 200, after.text
    assert (posted.status_code, deleted.status_code) == (403, 403), (posted.text, deleted.text)
    # Acme's own switch is still set, and no other was set in its name.
    listed = [(s["tenant"], s["stage"]) for s in switches.json()["kill_switches"]]
    assert listed == [("acme", "generate")]
    assert globex.status_code == 200, globex.text
