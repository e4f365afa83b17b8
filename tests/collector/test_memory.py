"""memory.py: large blocks on mmap, few malloc arenas for trimming to empty (glibc), and
memory given back when a burst of work ends."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from glassline.collector import memory

glibc_only = pytest.mark.skipif(memory._libc() is None, reason="glibc's malloc only")

# Eight threads each allocate a small block: glibc gives each new thread a new arena while
# it may (8 per core by default). malloc_info lists the arenas as <heap nr=...> elements.
_ARENAS_AFTER_THREADS = """
import ctypes, os, sys, tempfile, threading
from glassline.collector import memory
if sys.argv[1] == "limited":
    memory.mmap_large_blocks()
libc = memory._libc()
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
ready = threading.Barrier(9)
def work():
    libc.malloc(64)
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
ready.wait()
with tempfile.NamedTemporaryFile(delete=False) as f:
    path = f.name
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fclose(ctypes.c_void_p(out))
print(open(path).read().count("<heap nr="))
os.unlink(path)
"""


def _arenas(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", _ARENAS_AFTER_THREADS, mode],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return int(run.stdout)


@glibc_only
def test_a_collector_process_allocates_from_at_most_two_arenas() -> None:
    assert _arenas("limited") <= 2
    assert _arenas("default") > 2  # the test itself can tell the difference


def _periods(
    bursts: memory.Bursts, cpu_shares: list[float], wall_s: float = 2.0
) -> list[str | None]:
    return [bursts.period(share * wall_s, wall_s) for share in cpu_shares]


@pytest.mark.parametrize(
    ("cpu_shares", "actions"),
    [
        ([0.0, 0.01, 0.0], [None, None, None]),  # nothing to do for an idle process
        ([0.01] * 6, [None, None, None, None, "trim", None]),  # a trickle: trimmed every 10 s
        ([0.5, 0.0, 0.0], [None, "release", None]),  # once, when the burst ends
        ([0.5] * 5 + [0.0], [None, None, None, None, "trim", "release"]),  # every 10 s while busy
        ([0.5, 0.0, 0.9, 0.01], [None, "release", None, "release"]),  # each burst
    ],
)
def test_memory_is_given_back_when_a_burst_ends(
    cpu_shares: list[float], actions: list[str | None]
) -> None:
    assert _periods(memory.Bursts(busy_share=0.02, trim_every_s=10.0), cpu_shares) == actions


def test_release_collects_cycles_and_runs_every_hook() -> None:
    class Node:
        pass

    calls: list[str] = []
    release = memory.BurstRelease()
    release.on_release(lambda: calls.append("first"))
    release.on_release(lambda: 1 / 0)  # a failing hook is logged, not raised
    release.on_release(lambda: calls.append("third"))
    # Off before the cycle exists: any allocation may otherwise trigger an automatic
    # collection that frees it before release() is called (seen once in CI).
    gc.disable()
    try:
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None
        release.release()
        assert gone() is None
    finally:
        gc.enable()
    assert calls == ["first", "third"]


_CYCLES_AFTER_STARTUP = """
import gc
from glassline.collector import memory
gc.disable()
built_at_startup = [[] for _ in range(1000)]  # lists: tracked by the cyclic GC
memory.collect_cycles_after_startup()
print(gc.isenabled(), gc.get_freeze_count() >= 1000, gc.get_threshold()[0])
"""


def test_after_startup_its_objects_are_frozen_and_young_ones_collected_in_large_rounds() -> None:
    # In a child: freezing is for good, and the threshold is the process's.
    out = subprocess.run([sys.executable, "-c", _CYCLES_AFTER_STARTUP], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out[:2] == ["True", "True"]
    assert int(out[2]) > 700  # Python's default scans each 512-span export many times over
