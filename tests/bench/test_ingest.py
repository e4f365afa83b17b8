"""bench/ingest.py: the figures that tell a disturbed run from a measurement."""

from __future__ import annotations

import time

from bench.ingest import host_cpu_s


def test_host_cpu_holds_the_cpu_this_process_spent() -> None:
    """The host's busy CPU includes every process's, so what the collector and the client did
    not use is what other work took from the cores two workers need."""
    host0, own0 = host_cpu_s(), time.process_time()
    while time.process_time() < own0 + 0.3:  # 0.3 s of CPU, however busy the host
        pass
    host, own = host_cpu_s() - host0, time.process_time() - own0
    assert host >= own - 0.05  # both counted in clock ticks (10 ms)
