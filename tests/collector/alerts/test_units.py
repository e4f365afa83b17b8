"""An alert's value and threshold read in the rule's unit: dollars, milliseconds, shares."""

from __future__ import annotations

from typing import Any

import pytest

from glassline.collector.alerts import parse_config
from glassline.collector.alerts.units import format_value, unit_of
from glassline.pricing import format_usd


def _rule(**fields: Any) -> Any:
    return parse_config({"rules": [{"name": "r", **fields}]}).rules[0]


@pytest.mark.parametrize(
    ("rule", "value", "text"),
    [
        ({"kind": "budget", "window": "1h", "limit_usd": 1}, 0.5386, "$0.539"),
        ({"kind": "budget", "window": "1h", "limit_usd": 1}, 0.0447, "$0.0447"),
        ({"kind": "budget", "window": "1h", "limit_usd": 1}, 1234.5, "$1,234.50"),
        ({"kind": "latency", "threshold_ms": 500}, 612.3456, "612 ms"),
        ({"kind": "error_rate", "threshold": 0.22}, 0.2241, "22.4%"),
        ({"kind": "cache_hit_rate", "below": 0.5}, 0.5, "50.0%"),
        ({"kind": "retry_rate", "above": 0.2}, 0.125, "0.125 per call"),
        ({"kind": "spike", "metric": "cost", "factor": 2}, 3.2, "$3.20"),
        ({"kind": "spike", "metric": "tokens_per_request", "factor": 3}, 4521.7,
         "4,522 tokens/request"),
        ({"kind": "spike", "metric": "requests", "factor": 3}, 1200.0, "1,200 requests"),
        ({"kind": "absent"}, 0.0, "0 requests"),
        ({"kind": "slo", "sli": "availability", "objective": 0.99}, 20.54, "20.5x"),
        ({"kind": "shift", "dimension": "model", "points": 20}, 31.26, "31.3 points"),
        ({"kind": "quality", "evaluation": "e", "below": 0.8}, 0.7512, "0.7512"),
        ({"kind": "quality", "evaluation": "e", "metric": "pass_rate", "below": 0.9}, 0.85,
         "85.0%"),
    ],
)  # fmt: skip
def test_a_value_reads_in_its_rules_unit(rule: dict[str, Any], value: float, text: str) -> None:
    assert format_value(unit_of(_rule(**rule)), value) == text


def test_no_value_reads_n_a() -> None:
    assert format_value("usd", None) == "n/a"


@pytest.mark.parametrize("value", [0.0, 0.0000345, 0.0447, 0.5386, 0.9996, 3.2, 1234.5, -0.25])
def test_an_alerts_dollars_read_as_every_page_reads_them(value: float) -> None:
    # `make demo`'s hourly budget read $0.54 in Slack and $0.539 on the Overview.
    assert format_value("usd", value) == format_usd(value)
