"""The commented rule file in docs/alerts.md is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from glassline.collector.alerts import parse_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "alerts.md"


def test_documented_rule_file_parses_with_every_rule_kind() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    rule_file = next(b for b in blocks if "rules:" in b and "notifiers:" in b)
    config = parse_config(yaml.safe_load(rule_file))
    kinds = {r.kind for r in config.rules}
    assert kinds == {
        "budget",
        "latency",
        "error_rate",
        "spike",
        "cache_hit_rate",
        "retry_rate",
        "absent",
        "slo",
        "shift",
        "quality",
    }
    assert [n.type for n in config.notifiers] == ["webhook", "slack", "log"]
    assert config.digest.enabled and config.digest.notifiers == ["team-slack"]
