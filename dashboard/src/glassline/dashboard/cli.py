"""``glassline-dashboard --db URL [--port 8501]``: run the Streamlit app headless."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Only the names: importing the app's modules here (Streamlit, pandas, the collector) would
# cost the launcher a second and warn that no Streamlit runtime is running.
from glassline.dashboard.env import DEFAULT_DB_URL, ENV_ALERTS_CONFIG, ENV_DB_URL, ENV_PASSWORD

__all__ = ["build_command", "main"]

APP = Path(__file__).with_name("app.py")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassline-dashboard",
        description="Glassline dashboard: latency, spend and trace drilldowns from the store.",
        epilog=f"Set {ENV_PASSWORD} to require a shared password before anything is shown.",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get(ENV_DB_URL, DEFAULT_DB_URL),
        help="SQLAlchemy URL of the collector's store, e.g. sqlite:///.glassline/glassline.db "
        f"or postgresql+psycopg://user@host/db (default: ${ENV_DB_URL} or %(default)s)",
    )
    parser.add_argument(
        "--alerts-config",
        default=os.environ.get(ENV_ALERTS_CONFIG),
        help="the collector's alert rule file (YAML), to show spend against its budget rules "
        f"on the Overview (default: ${ENV_ALERTS_CONFIG})",
    )
    parser.add_argument("--port", type=int, default=8501, help="HTTP port (default: 8501)")
    parser.add_argument("--address", default="0.0.0.0", help="bind address (default: 0.0.0.0)")
    return parser


def build_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line (headless, no usage statistics)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless=true",
        f"--server.port={port}",
        f"--server.address={address}",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = {**os.environ, ENV_DB_URL: args.db}
    if args.alerts_config:
        env[ENV_ALERTS_CONFIG] = str(Path(args.alerts_config).resolve())
    shown_host = "localhost" if args.address in ("0.0.0.0", "::") else args.address
    print(f"Glassline dashboard: http://{shown_host}:{args.port}/", flush=True)
    # Become the Streamlit process (no child left behind): SIGTERM and Ctrl-C reach it directly.
    command = build_command(args.port, args.address)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    raise SystemExit(main())
