"""Threads named in the operating system as they are in Python.

Python 3.11 keeps a thread's name to itself: ``top -H``, ``ps -L``, ``perf`` and ``/proc``
show every thread of every collector process as "python". Named there too, an operator sees
which one is busy (an export thread, the WAL checkpoint, the gRPC loop) and which process is
the front or a runner, and the overload bench splits the runners' CPU by thread.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["NamedThread", "name_os_thread", "name_pool_thread"]

_NAME_BYTES = 15  # what Linux keeps of a thread's name


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS (Linux; elsewhere nothing).

    A process's first thread names the process itself in ``ps`` and ``top``.
    """
    path = f"/proc/self/task/{threading.get_native_id()}/comm"
    with contextlib.suppress(OSError), open(path, "wb") as comm:  # no /proc: not Linux
        comm.write(name.encode()[:_NAME_BYTES])


def name_pool_thread() -> None:
    """A ``ThreadPoolExecutor`` initializer: each pool thread's name (``prefix_N``) in the OS."""
    name_os_thread(threading.current_thread().name)


class NamedThread(threading.Thread):
    """A ``threading.Thread`` whose name the OS shows too."""

    def run(self) -> None:
        name_os_thread(self.name)
        super().run()
