"""memory.py: large blocks on mmap, and few malloc arenas for trimming to empty (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from glassline.collector import memory

pytestmark = pytest.mark.skipif(memory._libc() is None, reason="glibc's malloc only")

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


def test_a_collector_process_allocates_from_at_most_two_arenas() -> None:
    assert _arenas("limited") <= 2
    assert _arenas("default") > 2  # the test itself can tell the difference
