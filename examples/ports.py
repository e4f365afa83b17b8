"""The demo's ports: defaults matching the README, overrides, and a check that they are free.

Standard library only, so ``make demo`` can run it with the system Python before installing
anything: a busy port is reported before a minute of installing and before any process starts.

    python3 examples/ports.py "$DEMO_PORTS"      # exits 1 with a message if one is taken
"""

from __future__ import annotations

import os
import socket
import sys
from typing import NamedTuple

ENV = "DEMO_PORTS"
DEFAULT = "4317,4318,8501"


class Ports(NamedTuple):
    grpc: int
    http: int
    dashboard: int


def parse(text: str | None) -> Ports:
    """``"GRPC,HTTP,DASHBOARD"`` (e.g. ``14317,14318,18501``); empty means the defaults."""
    parts = (text or DEFAULT).replace(" ", "").split(",")
    if len(parts) != 3 or not all(p.isdecimal() and 0 < int(p) < 65536 for p in parts):
        raise ValueError(
            f"{ENV} must be three ports GRPC,HTTP,DASHBOARD (e.g. {DEFAULT}), got {text!r}"
        )
    ports = Ports(*(int(p) for p in parts))
    if len(set(ports)) != 3:
        raise ValueError(f"{ENV} must name three different ports, got {text!r}")
    return ports


def busy(ports: Ports, host: str = "127.0.0.1") -> list[str]:
    """One line per port something else already listens on."""
    found = []
    for name, port in ports._asdict().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers bind: a port whose last connections linger in TIME_WAIT after a
            # previous run is free for them, only a listener makes it busy.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                found.append(f"port {port} ({name}) is already in use on {host}")
    return found


def check(text: str | None) -> Ports:
    """The ports, or exit with every problem and how to pick other ports."""
    try:
        ports = parse(text)
    except ValueError as exc:
        raise SystemExit(f"[demo] {exc}") from None
    problems = busy(ports)
    if problems:
        lines = "\n".join(f"[demo] {p}" for p in problems)
        raise SystemExit(
            f"{lines}\n[demo] stop what uses it, or pick free ports: "
            f"make demo DEMO_PORTS=14317,14318,18501"
        )
    return ports


if __name__ == "__main__":
    check(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.environ.get(ENV))
