"""The budgets bench times the answers it says it times, on the store it fills."""

from __future__ import annotations

import pytest

from bench.budgets import main


def test_the_budgets_bench_reports_every_user_and_only_the_heavy_ones_to_a_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--users", "400", "--heavy-every", "100", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "4 of them at their limit" in out
    rows = {line[:34].strip(): line[34:].split() for line in out.splitlines()[2:]}
    assert rows["every user (a person's answer)"][0] == "400"
    assert rows["min_share=0.5 (a guard's answer)"][0] == "4"
    assert rows["alert evaluation pass"][:2] == ["4", "observed"]
