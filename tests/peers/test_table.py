"""The compatibility tables in the README and docs/normalization.md are the rendering of the
recorded results (docs/peers/results.json), so they cannot drift from what the suite saw."""

from __future__ import annotations

import json

import pytest

from . import table


@pytest.mark.parametrize("target", table.TARGETS, ids=lambda p: p.name)
def test_documented_table_matches_the_recorded_results(target: object) -> None:
    results = json.loads(table.RESULTS.read_text(encoding="utf-8"))
    text = target.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert table.replace_block(text, table.render(results)) == text


def test_every_run_of_the_suite_is_in_the_recorded_results() -> None:
    from .runs import RUNS

    assert {run.name for run in RUNS} == set(json.loads(table.RESULTS.read_text()))
