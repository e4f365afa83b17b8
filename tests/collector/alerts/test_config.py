"""The rule file: every error reported with its path; reload keeps old rules on a bad file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from glassline.collector.alerts import AlertConfigError, AlertEngine, load_config, parse_config
from glassline.collector.storage import Store

VALID = """
evaluation_interval: 30s
dashboard_url: http://dash.local
notifiers:
  - {name: ops, type: webhook, url: "http://127.0.0.1:9/hook"}
rules:
  - name: monthly
    kind: budget
    window: calendar_month
    timezone: Europe/Paris
    limit_usd: 100
    warn_usd: 80
    per: [model]
    for: 5m
    annotations: {summary: "{tenant} {model} at ${value:.2f} ({forecast})"}
"""


def rule(**fields: Any) -> dict[str, Any]:
    return {"rules": [{"name": "r", **fields}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            rule(kind="latency", threshold_ms=-1),
            "rules[0].threshold_ms: Input should be greater than 0",
        ),
        (
            rule(kind="latency", threshold_ms=5, window="5 minutes"),
            "rules[0].window: not a duration",
        ),
        (rule(kind="nope"), "rules[0]: Input tag 'nope' found using 'kind' does not match"),
        (rule(kind="budget", window="1h"), "rules[0].limit_usd: Field required"),
        (rule(kind="budget", window="week", limit_usd=1), "rules[0].window: Input should be"),
        (
            rule(kind="budget", window="1h", limit_usd=1, timezone="Mars/Base"),
            "rules[0].timezone: unknown time zone",
        ),
        (
            rule(kind="budget", window="1h", limit_usd=5, warn_usd=9),
            "rules[0].warn_usd: must be below limit_usd",
        ),
        (
            rule(kind="error_rate", threshold=1.5),
            "rules[0].threshold: Input should be less than or equal to 1",
        ),
        (
            rule(kind="spike", metric="cost", factor=2, baseline={"type": "ewma", "alpha": 0}),
            "rules[0].baseline.alpha",
        ),
        (
            rule(kind="latency", threshold_ms=1, per="user"),
            "rules[0].per: per-user evaluation exists only for budget",
        ),
        (rule(kind="cache_hit_rate"), "rules[0]: set below (absolute) and/or drop"),
        (rule(kind="retry_rate", factor=1), "rules[0].factor: Input should be greater than 1"),
        (rule(kind="absent", bogus=1), "rules[0].bogus: Extra inputs are not permitted"),
        (
            rule(kind="absent", notifiers=["ghost"]),
            "rules[0].notifiers[0]: unknown notifier 'ghost'",
        ),
        (
            rule(kind="absent", annotations={"s": "{valeu}"}),
            "rules[0].annotations.s: unknown template field {valeu}",
        ),
        (
            {"notifiers": [{"name": "w", "type": "webhook", "url": "ftp://x"}]},
            "notifiers[0].url: must be an http",
        ),
        ({"digest": {"hour": 25}}, "digest.hour: Input should be less than or equal to 23"),
        ({"evaluation_interval": "0s"}, "evaluation_interval: must be positive"),
    ],
)
def test_config_errors_name_their_path(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(AlertConfigError) as info:
        parse_config(data)
    assert any(e.startswith(expected) for e in info.value.errors), info.value.errors


def test_every_error_is_reported_at_once() -> None:
    data = {
        "rules": [
            {"name": "a", "kind": "latency"},
            {"name": "b", "kind": "budget", "window": "1h", "notifiers": "pager"},
        ]
    }
    with pytest.raises(AlertConfigError) as info:
        parse_config(data)
    assert info.value.errors == [
        "rules[0].threshold_ms: Field required",
        "rules[1].limit_usd: Field required",
        "rules[1].notifiers[0]: unknown notifier 'pager'",
    ]


def test_duplicate_rule_names_are_rejected() -> None:
    data = {"rules": [{"name": "a", "kind": "absent"}, {"name": "a", "kind": "absent"}]}
    with pytest.raises(AlertConfigError) as info:
        parse_config(data)
    assert info.value.errors == ["rules[1].name: duplicate rule name 'a'"]


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(VALID)
    config = load_config(path)
    monthly = config.rules[0]
    assert config.evaluation_interval == timedelta(seconds=30)
    assert config.repeat_interval == timedelta(hours=4)
    assert (monthly.kind, monthly.for_, monthly.per) == ("budget", timedelta(minutes=5), ["model"])


def test_yaml_syntax_error_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(AlertConfigError) as info:
        load_config(path)
    assert info.value.errors[0].startswith("<file>: not valid YAML")


def test_a_rule_file_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_bytes(b"rules: []\n# \xff\n")
    with pytest.raises(AlertConfigError) as info:
        load_config(path)
    assert info.value.errors == ["<file>: not UTF-8 text (byte 12)"]


def test_reload_keeps_old_rules_when_the_new_file_is_invalid(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(VALID)
    engine = AlertEngine(store, load_config(path))
    try:
        path.write_text(VALID.replace("limit_usd: 100", "limit_usd: -3"))
        assert engine.reload(path) is False
        assert engine.config.rules[0].limit_usd == 100
        assert "rules[0].limit_usd: Input should be greater than 0" in caplog.text
        path.write_text(VALID.replace("limit_usd: 100", "limit_usd: 300"))
        assert engine.reload(path) is True
        assert engine.config.rules[0].limit_usd == 300
    finally:
        engine.close()
