"""``glassline-dashboard`` runs Streamlit headless on the app with the store URL in the env."""

from __future__ import annotations

import subprocess
import sys

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
