"""CPU the front spends per refused export, HTTP and gRPC, with nothing else running.

    .venv/bin/python -m bench.refusal_cpu [--requests 5000] [--body-kb 120]

A front process whose admission refuses everything (the receivers, uvicorn and grpc.aio as
the collector builds them) is driven from this process over 4 keep-alive connections per
protocol, each request waiting for its answer (429 + Retry-After, RESOURCE_EXHAUSTED +
RetryInfo, both checked); the front's own CPU time per request is printed. The default body
is the size of bench.overload's requests (100 LLM spans, 120 KB): the front receives every
byte of a refused request too (gRPC reads the whole message before the handler runs; HTTP
reads on after its 429 to keep the connection). Compare two
checkouts in the same minutes by putting the other's ``collector/src`` first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from glassline.collector.admission import Admission
from glassline.collector.auth import Keyring
from glassline.collector.config import ServerConfig
from glassline.collector.metrics import Metrics

_CONNECTIONS = 4
_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class _NoExports:
    """Nothing is admitted, so nothing is ever run."""

    kinds = ("traces", "logs")


async def _serve() -> None:
    from glassline.collector.receivers.grpc import GrpcReceiver
    from glassline.collector.receivers.http import build_app, uvicorn_config
    from glassline.collector.server import _http_socket, _QuietServer

    cfg = ServerConfig(grpc_port=0, http_port=0)
    metrics, keyring = Metrics(), Keyring([], "acme")
    full = Admission(1 << 26, 0, metrics)  # no request fits
    exports: object = _NoExports()
    grpc_port = GrpcReceiver(cfg, keyring, full, exports, metrics).start()
    sock = _http_socket("127.0.0.1", 0)
    app = build_app(cfg, keyring, full, exports, metrics)
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


async def _http(port: int, n: int, body: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /v1/traces HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    for _ in range(n):
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        assert head.startswith(b"http/1.1 429") and b"retry-after:" in head, head
        length = head.split(b"content-length:")[1].split(b"\r\n")[0]
        await reader.readexactly(int(length))
    writer.close()


async def _grpc(port: int, n: int, body: bytes) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(_EXPORT)
        for _ in range(n):
            try:
                await export(body)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert any(k == "google.rpc.retryinfo-bin" for k, _ in exc.trailing_metadata())
            else:
                raise AssertionError("an export was accepted")


async def _per_request_ms(
    pid: int, send: Callable[[int, int, bytes], Awaitable[None]], port: int, n: int, body: bytes
) -> float:
    await asyncio.gather(*(send(port, 50, body) for _ in range(_CONNECTIONS)))  # warm up
    before = _cpu_s(pid)
    await asyncio.gather(*(send(port, n // _CONNECTIONS, body) for _ in range(_CONNECTIONS)))
    return (_cpu_s(pid) - before) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--body-kb", type=int, default=120)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    front = subprocess.Popen(
        [sys.executable, "-m", "bench.refusal_cpu", "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert front.stdout is not None
        grpc_port, http_port = map(int, front.stdout.readline().split())
        body = os.urandom(args.body_kb * 1024)
        http_ms = asyncio.run(_per_request_ms(front.pid, _http, http_port, args.requests, body))
        grpc_ms = asyncio.run(_per_request_ms(front.pid, _grpc, grpc_port, args.requests, body))
    finally:
        assert front.stdin is not None
        front.stdin.close()
        front.wait(30)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"front CPU per refusal: HTTP {http_ms:.3f} ms, gRPC {grpc_ms:.3f} ms "
          f"({args.requests} each of {args.body_kb} KB, load average {load})")  # fmt: skip


if __name__ == "__main__":
    main()
