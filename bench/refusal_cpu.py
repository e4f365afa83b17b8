"""CPU the front spends per refused export, HTTP and gRPC, with nothing else running.

    .venv/bin/python -m bench.refusal_cpu [--requests 5000] [--body-kb 120] [--accepted]
    .venv/bin/python -m bench.refusal_cpu --rate 200    # requests arriving one at a time

A front process whose admission refuses everything (the receivers, uvicorn and grpc.aio as
the collector builds them) is driven from this process over 4 keep-alive connections per
protocol, each request waiting for its answer (429 + Retry-After, RESOURCE_EXHAUSTED +
RetryInfo, both checked); the front's own CPU time per request is printed. The default body
is the size of bench.overload's requests (100 LLM spans, 120 KB): the front receives every
byte of a refused request too (gRPC reads the whole message before the handler runs; HTTP
reads on after its 429 to keep the connection). Compare two
checkouts in the same minutes by putting the other's ``collector/src`` first on PYTHONPATH.

``--accepted`` measures the other path instead: the front admits everything and hands each
export to one of 2 runner processes (handoff.py, as with ``server.workers: 2``) whose exporter
answers at once without decoding, so the front's CPU per accepted export is its own: receive,
admit, hand over, wait for the runner's reply, answer.

``--rate R`` sends instead one request every 1/R s on one connection per protocol, as an open
loop's requests arrive: each finds the front idle, its caches cold. The default back-to-back
loop keeps them warm and measures the front at its cheapest. Session 14, per HTTP / gRPC
refusal: 0.093 / 0.297 ms back to back, 0.165 / 0.375 ms one every 1.25 ms (bench.overload's
rate at 100 spans an export), 0.330 / 0.500 ms one every 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from glassline.collector.admission import Admission
from glassline.collector.auth import Keyring
from glassline.collector.config import ServerConfig
from glassline.collector.handoff import Front, Mesh, Runner
from glassline.collector.metrics import Metrics

_CONNECTIONS = 4
Send = Callable[[int, int, bytes, bool, float | None], Awaitable[None]]
_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class _NoExports:
    """Nothing is admitted, so nothing is ever run."""

    kinds = ("traces", "logs")


class _Instant:
    """A runner's exporter that stores nothing and answers at once."""

    def export(self, transport: str, principal: object, body: bytes, encoding: object) -> None:
        return None

    def reply(self, result: object) -> ExportTraceServiceResponse:
        return ExportTraceServiceResponse()


def _runners(n: int) -> tuple[Mesh, list[int]]:
    """``n`` forked runner processes with instant exporters, and their pids."""
    mesh, pids = Mesh(n), []
    for index in range(n):
        pid = os.fork()
        if pid == 0:
            runner = Runner({"traces": _Instant()}, 4, Metrics(), index=index, mesh=mesh)
            runner.open()
            signal.pause()  # until the front ends it
        pids.append(pid)
    return mesh, pids


async def _serve(mesh: Mesh | None) -> None:
    from glassline.collector.receivers.grpc import GrpcReceiver
    from glassline.collector.receivers.http import build_app, uvicorn_config
    from glassline.collector.server import _http_socket, _QuietServer

    cfg = ServerConfig(grpc_port=0, http_port=0)
    metrics, keyring = Metrics(), Keyring([], "acme")
    exports: object = _NoExports()
    admission = Admission(1 << 26, 0, metrics)  # no request fits
    if mesh is not None:
        exports = Front(mesh, frozenset({"traces"}))
        admission = Admission(1 << 40, 1 << 20, metrics)  # every request fits
    grpc_port = GrpcReceiver(cfg, keyring, admission, exports, metrics).start()
    sock = _http_socket("127.0.0.1", 0)
    app = build_app(cfg, keyring, admission, exports, metrics)
    http = _QuietServer(uvicorn_config(app, cfg))
    task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started:
        await asyncio.sleep(0.01)  # uvicorn has no started event to await
    print(grpc_port, sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    http.should_exit = True
    await task


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _http(port: int, n: int, body: bytes, accepted: bool, interval: float | None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    started = time.monotonic()
    for k in range(n):
        await _paced(interval, started, k)
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        if accepted:
            assert head.startswith(b"http/1.1 200"), head
        else:
            assert head.startswith(b"http/1.1 429") and b"retry-after:" in head, head
        length = head.split(b"content-length:")[1].split(b"\r\n")[0]
        await reader.readexactly(int(length))
    writer.close()


async def _grpc(port: int, n: int, body: bytes, accepted: bool, interval: float | None) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(_EXPORT)
        started = time.monotonic()
        for k in range(n):
            await _paced(interval, started, k)
            try:
                await export(body)
            except grpc.aio.AioRpcError as exc:
                assert not accepted, exc
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert any(k == "google.rpc.retryinfo-bin" for k, _ in exc.trailing_metadata())
            else:
                assert accepted, "an export was accepted"


async def _per_request_ms(
    pid: int, send: Send, port: int, n: int, body: bytes, accepted: bool, rate: float | None,
) -> float:  # fmt: skip
    await asyncio.gather(*(send(port, 50, body, accepted, None) for _ in range(_CONNECTIONS)))
    before = _cpu_s(pid)
    if rate is None:
        senders = (send(port, n // _CONNECTIONS, body, accepted, None) for _ in range(_CONNECTIONS))
        await asyncio.gather(*senders)
    else:
        await send(port, n, body, accepted, 1.0 / rate)
    return (_cpu_s(pid) - before) / n * 1e3


async def _paced(interval: float | None, started: float, k: int) -> None:
    """Wait until request ``k`` is due, one every ``interval`` s from ``started`` (None: now)."""
    if interval is not None:
        await asyncio.sleep(max(0.0, started + k * interval - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--body-kb", type=int, default=120)
    parser.add_argument("--accepted", action="store_true", help="accept into 2 instant runners")
    parser.add_argument(
        "--rate", type=float, default=None,
        help="requests per second, one at a time (default: back to back on 4 connections)",
    )  # fmt: skip
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        mesh, pids = _runners(2) if args.accepted else (None, [])  # forked before grpc starts
        try:
            asyncio.run(_serve(mesh))
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
        return
    front = subprocess.Popen(
        [sys.executable, "-m", "bench.refusal_cpu", "--serve", *(["--accepted"] * args.accepted)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert front.stdout is not None
        grpc_port, http_port = map(int, front.stdout.readline().split())
        body = os.urandom(args.body_kb * 1024)
        run = args.requests, body, args.accepted, args.rate
        http_ms = asyncio.run(_per_request_ms(front.pid, _http, http_port, *run))
        grpc_ms = asyncio.run(_per_request_ms(front.pid, _grpc, grpc_port, *run))
    finally:
        assert front.stdin is not None
        front.stdin.close()
        front.wait(30)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    what = "accepted export" if args.accepted else "refusal"
    pace = "back to back" if args.rate is None else f"one every {1000 / args.rate:g} ms"
    print(f"front CPU per {what}: HTTP {http_ms:.3f} ms, gRPC {grpc_ms:.3f} ms "
          f"({args.requests} each of {args.body_kb} KB, {pace}, load average {load})")  # fmt: skip


if __name__ == "__main__":
    main()
