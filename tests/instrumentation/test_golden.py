"""glassline eval run: a golden set through a target and evaluators, scores per version."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from glassline.instrumentation.golden import main

APP = textwrap.dedent(
    """
    from glassline.instrumentation import Call, Score

    def answer(question):
        return {"keys?": "Settings > Keys", "billing?": "ask support"}.get(question, "")

    def boom(question):
        raise RuntimeError("model down")

    def judge_down(call: Call) -> Score:
        raise RuntimeError("judge down")

    def length_ok(call: Call) -> Score:
        return Score(value=min(1.0, len(call.output) / 10), label="pass" if call.output else "fail")
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "golden_app.py").write_text(APP)
    cases = [{"input": "keys?", "expected": "Settings > Keys"},
             {"input": "billing?", "expected": "Billing page"},
             {"input": {"question": "refunds?"}, "expected": "Refunds page"}]  # fmt: skip
    (tmp_path / "golden.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "golden_app", raising=False)
    return tmp_path


def test_scores_per_evaluator_under_the_version_label(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "run", "golden.jsonl", "--target", "golden_app:answer", "--version",
                 "v8", "--evaluator", "glassline.instrumentation.golden:exact_match",
                 "--evaluator", "golden_app:length_ok", "--json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "v8"
    exact = report["evaluators"]["exact_match"]
    assert (exact["cases"], exact["mean"], exact["pass_rate"]) == (3, pytest.approx(1 / 3),
                                                                   pytest.approx(1 / 3))  # fmt: skip
    length = report["evaluators"]["length_ok"]
    assert length["mean"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)


def test_min_mean_fails_the_run_and_a_raising_target_scores_zero(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "glassline.instrumentation.golden", "eval", "run", "golden.jsonl",
         "--target", "golden_app:boom", "--min-mean", "0.5"],
        capture_output=True, text=True, cwd=project, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "below --min-mean 0.5: exact_match" in result.stderr
    assert "exact_match" in result.stdout and " 3" in result.stdout  # 3 errors counted


def test_a_raising_evaluator_scores_zero_for_itself_only(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "run", "golden.jsonl", "--target", "golden_app:answer",
                 "--evaluator", "golden_app:judge_down",
                 "--evaluator", "glassline.instrumentation.golden:exact_match", "--json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)["evaluators"]
    assert (report["judge_down"]["errors"], report["judge_down"]["mean"]) == (3, 0.0)
    exact = report["exact_match"]  # as without the broken judge before it
    assert (exact["errors"], exact["pass_rate"]) == (0, pytest.approx(1 / 3))
