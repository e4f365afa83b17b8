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
    parser.add_argument("--port", type=_port, default=8501, help="HTTP port (default: 8501)")
    parser.add_argument("--address", default="0.0.0.0", help="bind address (default: 0.0.0.0)")
    return parser


def _port(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"must be a port number, 1-65535 (got {text!r})")
    return int(text)


def _problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with the store URL and the rule file, checked before Streamlit starts.

    The store itself may not exist yet (the collector creates it): the app says so.
    """
    from glassline.collector.alerts.config import AlertConfigError, load_config
    from glassline.collector.storage.config import store_url

    problems = []
    try:
        store_url(args.db)
    except ValueError as exc:
        problems.append(f"--db: {exc} (got {args.db!r})")
    if args.alerts_config:
        try:
            load_config(args.alerts_config)
        except AlertConfigError as exc:
            problems += [f"--alerts-config ({args.alerts_config}): {e}" for e in exc.errors]
    return problems


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
    if problems := _problems(args):
        print("glassline-dashboard: invalid settings:", *problems, sep="\n  ", file=sys.stderr)
        return 2
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
