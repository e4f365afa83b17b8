"""One collector per port pair, and workers that never outlive their supervisor.

Workers share their ports through ``SO_REUSEPORT``, which would just as gladly let a second
collector bind beside them: after a ``kill -9`` of the supervisor alone, orphaned workers kept
answering exports while a new collector started next to them. Two guards:

- :class:`PortLock`: an ``flock`` on a file named after the host and ports. The starting
  collector takes it exclusively (failing fast if anyone holds it), then downgrades to shared;
  each worker holds it shared for its whole life. A collector cannot start while any process
  of another one, orphan or not, still serves those ports.
- :func:`die_with_parent`: a worker asks the kernel for SIGTERM when its parent dies (Linux
  ``PR_SET_PDEATHSIG``) and, everywhere, :func:`parent_gone` lets it poll for the same thing.
  SIGTERM is the normal shutdown: in-flight exports finish, nothing acknowledged is lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import signal
import sys
import tempfile
from pathlib import Path

from glassline.collector.config import ServerConfig

__all__ = ["AlreadyRunning", "PortLock", "die_with_parent", "parent_gone"]

_PR_SET_PDEATHSIG = 1


class AlreadyRunning(RuntimeError):
    """Another collector (or a worker it left behind) holds these ports."""


class PortLock:
    """The flock that makes a host:port pair one collector's."""

    def __init__(self, server: ServerConfig) -> None:
        name = f"glassline-{server.host}-{server.grpc_port}-{server.http_port}.lock"
        self.path = Path(tempfile.gettempdir()) / name.replace(":", "_")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Exclusively, without waiting; raises AlreadyRunning naming the holder's ports."""
        self._take(fcntl.LOCK_EX)

    def share(self) -> None:
        """Downgrade to shared, so this collector's workers can hold it too."""
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def join(self) -> None:
        """A worker's share of its supervisor's lock (raises if another collector holds it)."""
        self._take(fcntl.LOCK_SH)

    def _take(self, mode: int) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(
                f"another collector, or a worker left behind by one, is serving these ports "
                f"(lock {self.path} is held); stop it first"
            ) from None
        self._fd = fd


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send SIGTERM when the parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent_gone(parent_pid):  # died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def parent_gone(parent_pid: int) -> bool:
    """True once ``parent_pid`` is no longer this process's parent (it died: we were adopted)."""
    return os.getppid() != parent_pid
