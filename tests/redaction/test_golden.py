"""Redaction finds and writes exactly what it did when golden.json was written (golden.py):
the Redactor on every corpus, and the collector's redact step on the corpus's spans, the ingest
bench's and the peer libraries' exports. Speed work must leave every output byte as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_output_matches_its_golden_digest():
    # A child process: the corpus's texts depend on the str hash seed, fixed there.
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "tests.redaction.golden"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cases match" in run.stdout
