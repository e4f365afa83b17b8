"""``glassline-dashboard`` runs Streamlit headless on the app with the store URL in the env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from glassline.dashboard.auth import password_ok
from glassline.dashboard.cli import APP, build_command


def test_command_runs_the_app_headless_on_the_port():
    cmd = build_command(8642, "127.0.0.1")
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    assert "--server.headless=true" in cmd and "--server.port=8642" in cmd
    assert APP.exists()


def test_help_names_the_database_option_and_password_env():
    out = subprocess.run(
        [sys.executable, "-m", "glassline.dashboard.cli", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "--db" in out and "GLASSLINE_DASHBOARD_PASSWORD" in out


def test_password_comparison():
    assert password_ok("s3cret", "s3cret")
    assert not password_ok("s3cret ", "s3cret") and not password_ok("", "s3cret")


def test_the_launcher_leaves_streamlit_to_the_app_process():
    # Importing the app's modules in the launcher warned "No runtime found" on every start.
    probe = "import sys, glassline.dashboard.cli; print(sorted({'streamlit', 'pandas'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]" and "No runtime found" not in result.stderr


def _launch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glassline.dashboard.cli", *args],
        capture_output=True, text=True, timeout=120,  # a bound for the failure case: Streamlit ran
    )  # fmt: skip


def test_a_store_url_or_rule_file_the_collector_would_refuse_is_refused_at_start(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [\n")
    result = _launch("--db", "mysql://app@db/glassline", "--alerts-config", str(rules))
    assert result.returncode == 2
    assert "--db: must start with sqlite:/// or postgresql+psycopg://" in result.stderr
    assert f"--alerts-config ({rules}): <file>: not valid YAML" in result.stderr
    assert "Glassline dashboard: http" not in result.stdout  # no URL printed for a dead app


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_a_port_out_of_range_is_refused_naming_it(port: str):
    result = _launch("--port", port)
    assert result.returncode == 2
    assert f"--port: must be a port number, 1-65535 (got '{port}')" in result.stderr


def test_checking_the_settings_leaves_streamlit_to_the_app_process(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n")
    probe = (
        "import sys; from glassline.dashboard.cli import _parser, _problems; "
        f"print(_problems(_parser().parse_args(['--alerts-config', {str(rules)!r}])), "
        "sorted({'streamlit', 'pandas'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] []"
