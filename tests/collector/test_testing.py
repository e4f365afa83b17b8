"""The shipped test helpers: ports a collector can still bind when it starts."""

from __future__ import annotations

from glassline.collector.testing import free_port


def _ephemeral_range() -> tuple[int, int]:
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ports:
        low, high = ports.read().split()
    return int(low), int(high)


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from() -> None:
    # A port the kernel picked for bind(0) was taken by an outgoing connection before the
    # collector bound it, once in a CI run ("Address already in use").
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert all(port < low for port in ports)
    assert len(set(ports)) == len(ports)  # never handed out twice
