"""One writer process for SQLite: workers decode, normalize and redact; one process writes.

SQLite admits one writer at a time. When every worker wrote its own batches (in turn, under a
file lock), the lock holder shared its process's GIL with that worker's other request
threads, all busy redacting, so the lock was held several times longer than the write
needed and both cores sat half idle waiting for it. With ``server.workers > 1`` on SQLite,
the workers now hand each processed batch to this process, which does nothing but write.

A worker answers its client only after the writer has committed the batch, so acknowledged
still means durable. The writer lives as long as the supervisor's control pipe: it stops
(finishing the write in progress) when the supervisor closes it or dies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import operator
import os
import pickle
import queue
import secrets
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from glassline.collector.config import CollectorConfig
from glassline.collector.records import SpanRecord

__all__ = ["RemoteSink", "WriterAddress", "WriterResult", "serve", "wait_ready", "writer_address"]

_log = logging.getLogger(__name__)
_READY = b"ready"


@dataclass(frozen=True, slots=True)
class WriterAddress:
    """Where the writer listens (a unix socket in a private directory) and its auth key."""

    path: str
    authkey: bytes


@dataclass(frozen=True, slots=True)
class WriterResult:
    """What the sink reported for one batch (the pipeline reads these names)."""

    inserted: int
    duplicates: int
    sampled_out: int = 0


@contextlib.contextmanager
def writer_address() -> Iterator[WriterAddress]:
    """A fresh address in a directory only this user can enter; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="glassline-writer-") as work:
        os.chmod(work, 0o700)
        yield WriterAddress(str(Path(work) / "writer.sock"), secrets.token_bytes(32))


class RemoteSink:
    """The pipeline's sink in a worker: sends each batch to the writer and waits for it.

    Thread-safe: each concurrent caller uses its own connection from a small pool.
    """

    def __init__(self, address: WriterAddress) -> None:
        self._address = address
        self._idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()

    def write(self, batch: Sequence[SpanRecord]) -> WriterResult:
        """Store ``batch`` through the writer; raises if it failed or cannot be reached."""
        conn = self._connection()
        try:
            conn.send_bytes(_pack(batch))
            outcome = conn.recv()
        except BaseException:
            conn.close()  # its state is unknown: never reuse it
            raise
        self._idle.put(conn)
        if isinstance(outcome, WriterResult):
            return outcome
        raise RuntimeError(f"the writer process failed to store the batch ({outcome})")

    def _connection(self) -> Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return Client(self._address.path, family="AF_UNIX", authkey=self._address.authkey)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# Records travel as plain tuples of their fields: half the pickling cost of the dataclasses.
_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(SpanRecord)))


def _pack(batch: Sequence[SpanRecord]) -> bytes:
    return pickle.dumps([_FIELDS(span) for span in batch], protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> list[SpanRecord]:
    return [SpanRecord(*fields) for fields in pickle.loads(data)]


def serve(config: CollectorConfig, address: WriterAddress, control: Connection) -> None:
    """The writer process: open the store, say ready on ``control``, write until it closes."""
    # Ctrl-C reaches the whole process group; the supervisor decides when the writer stops
    # (after the workers have drained their in-flight batches through it).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    from glassline.collector.sampling import SamplingSink
    from glassline.collector.server import setup_logging
    from glassline.collector.storage import Store

    setup_logging(config)
    store = Store.open(config.storage)
    sampled = SamplingSink(store, config.sampling)
    sink: Any = store if sampled.passthrough else sampled
    write_lock = threading.Lock()
    listener = Listener(address.path, family="AF_UNIX", authkey=address.authkey)
    threading.Thread(
        target=_accept, args=(listener, sink, write_lock), name="accept", daemon=True
    ).start()
    control.send_bytes(_READY)
    _log.info("writer process ready: the workers' batches are written here, one at a time")
    with contextlib.suppress(EOFError, OSError):
        control.recv_bytes()  # returns (EOF) when the supervisor closes its end or dies
    listener.close()
    with write_lock:  # the batch being written is committed before the store closes
        store.close()
    _log.info("writer process stopped")


def wait_ready(control: Connection, timeout_s: float) -> None:
    """Block until the writer said it is ready; raises if it died or took too long."""
    try:
        ready = control.poll(timeout_s) and control.recv_bytes() == _READY
    except (EOFError, OSError):
        ready = False
    if not ready:
        raise RuntimeError("the writer process did not start (see its error above)")


def _accept(listener: Listener, sink: Any, write_lock: threading.Lock) -> None:
    while True:
        try:
            conn = listener.accept()
        except AuthenticationError:
            _log.warning("refused a connection to the writer that failed authentication")
            continue
        except (OSError, EOFError):
            return  # the listener was closed: shutting down
        threading.Thread(
            target=_serve_connection, args=(conn, sink, write_lock), daemon=True
        ).start()


def _serve_connection(conn: Connection, sink: Any, write_lock: threading.Lock) -> None:
    with conn:
        while True:
            try:
                batch = _unpack(conn.recv_bytes())
            except (EOFError, OSError):
                return
            try:
                with write_lock:
                    written = sink.write(batch)
                outcome: object = WriterResult(
                    inserted=int(getattr(written, "inserted", len(batch))),
                    duplicates=int(getattr(written, "duplicates", 0)),
                    sampled_out=int(getattr(written, "sampled_out", 0)),
                )
            except Exception as exc:  # the worker turns this into a retryable answer
                # Only the type: a message may quote span content.
                _log.error("writing a batch of %d spans failed: %s", len(batch),
                           type(exc).__name__)  # fmt: skip
                outcome = type(exc).__name__
            try:
                conn.send(outcome)
            except OSError:
                return
