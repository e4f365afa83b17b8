"""Large valid exports at once: does the collector's memory stay within its bound?

    .venv/bin/python -m bench.big_exports                       # SQLite, 1/4/8 MB x 1/4/16
    .venv/bin/python -m bench.big_exports --store both --sizes 8 --concurrency 4 16
    .venv/bin/python -m bench.big_exports --transports grpc --rounds 2

The CLI collector with ``--workers`` (2) workers and the default bounds. Each round sends
``c`` exports of ``s`` MB at once, OTLP protobuf over gRPC or HTTP, each from its own thread
in this process, each sent again after its refusal's hint until stored (as an exporter
does; at most ``--tries``). An export is realistic LLM traffic: bench.ingest's spans (~1.2
KB, a quarter with PII), and a quarter of its bytes in four huge message contents.
Before a round the peak RSS of every collector process is reset (``clear_refs``); after it,
their summed VmHWM above the idle RSS (read once warmed up) is printed against the issue's
bound, 2 x ``max_inflight_bytes`` + 64 MB, by process too (front and runners). Each export
carries fresh trace ids, so nothing is deduplicated away; the stored spans are counted.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bench.ingest import make_batch, postgres_database
from glassline.collector.testing import RunningCollector, rss_bytes, run_collector

MB = 1 << 20
BOUND_MB = 2 * 64 + 64  # 2 x the default max_inflight_bytes + 64 MB
_HUGE = 4  # message contents of a quarter of the export's bytes
_WORDS = ("alpha", "beta", "call me at 415-555-0100", "lorem", "ipsum", "jane@example.com")


def big_export(mb: float, rng: random.Random) -> bytes:
    """A valid export of about ``mb`` MB: many ~1.2 KB LLM spans, and four spans whose input
    message is huge (a quarter of the bytes together)."""
    target = int(mb * MB)
    huge = target // 4 // _HUGE
    request = ExportTraceServiceRequest.FromString(make_batch(rng, 512))
    spans = request.resource_spans[0].scope_spans[0].spans
    while request.ByteSize() < target - _HUGE * huge:
        more = ExportTraceServiceRequest.FromString(make_batch(rng, 512))
        room = (target - _HUGE * huge - request.ByteSize()) // 1200 + 1
        spans.extend(more.resource_spans[0].scope_spans[0].spans[:room])
    for i in range(_HUGE):
        text = " ".join(rng.choice(_WORDS) for _ in range(huge // 8))[:huge]
        content = json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])
        for attribute in spans[i * 8 + 1].attributes:
            if attribute.key == "gen_ai.input.messages":
                attribute.value.string_value = content
    return request.SerializeToString()


def peak_rss(pids: list[int]) -> dict[int, int]:
    """Each process's VmHWM (bytes) since it was last reset."""
    peaks = {}
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1]) * 1024
    return peaks


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sender:
    """Sends one body until stored (or ``tries`` refusals), recording each answer."""

    def __init__(self, collector: RunningCollector, transport: str, tries: int) -> None:
        self.collector, self.transport, self.tries = collector, transport, tries
        self.answers: Counter[str] = Counter()
        self.stored = 0
        self._lock = threading.Lock()

    def send(self, body: bytes, spans: int) -> None:
        for _ in range(self.tries):
            answer, wait = self._once(body)
            with self._lock:
                self.answers[answer] += 1
                if answer in ("OK", "200"):
                    self.stored += spans
            if wait is None:
                return
            time.sleep(wait)

    def _once(self, body: bytes) -> tuple[str, float | None]:
        if self.transport == "http":
            with httpx.Client(timeout=60) as client:
                response = client.post(
                    f"{self.collector.http_endpoint}/v1/traces",
                    content=body,
                    headers={**self.collector.headers(), "content-type": "application/x-protobuf"},
                )
            retry = response.headers.get("retry-after")
            return str(response.status_code), float(retry) if retry else None
        with grpc.insecure_channel(
            self.collector.grpc_endpoint, options=[("grpc.max_send_message_length", 64 * MB)]
        ) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            try:
                export(
                    body, metadata=(("x-glassline-api-key", self.collector.api_key),), timeout=60
                )
            except grpc.RpcError as exc:
                code = exc.code().name
                return code, 1.0 if code in ("RESOURCE_EXHAUSTED", "UNAVAILABLE") else None
            return "OK", None


def one_round(
    collector: RunningCollector, transport: str, mb: float, concurrency: int, tries: int,
    rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    bodies = [big_export(mb, rng) for _ in range(concurrency)]
    spans = [len(ExportTraceServiceRequest.FromString(b).resource_spans[0].scope_spans[0].spans)
             for b in bodies]  # fmt: skip
    pids = collector.pids()
    before = rss_bytes(pids)
    reset_peaks(pids)
    sender = Sender(collector, transport, tries)
    threads = [
        threading.Thread(target=sender.send, args=(b, n))
        for b, n in zip(bodies, spans, strict=True)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    peaks = peak_rss(pids)
    return {
        "before": before, "peaks": peaks, "answers": sender.answers, "elapsed": elapsed,
        "stored": sender.stored, "sent": sum(spans), "bytes": sum(map(len, bodies)),
    }  # fmt: skip


def _labels(collector: RunningCollector) -> dict[int, str]:
    runners, front = collector.workers()
    labels = {collector.process.pid: "supervisor"}
    if front is not None:
        labels[front] = "front"
    labels.update({pid: f"runner{i}" for i, pid in enumerate(runners)})
    return labels


@contextmanager
def storage(kind: str) -> Iterator[dict[str, Any]]:
    if kind == "postgres":
        with postgres_database() as url:
            yield {"url": url}
    else:
        yield {}


def scenario(kind: str, args: argparse.Namespace) -> None:
    rng = random.Random(7)
    with (
        storage(kind) as store,
        tempfile.TemporaryDirectory(prefix="glassline-big-") as work,
        run_collector(
            {"server": {"workers": args.workers}, "storage": store},
            workdir=work,
            ready_timeout_s=120,
        ) as collector,
    ):
        labels = _labels(collector)
        Sender(collector, "grpc", 1).send(big_export(0.5, rng), 0)  # warm up every runner
        Sender(collector, "http", 1).send(big_export(0.5, rng), 0)
        time.sleep(3)  # the release after a burst (memory.py)
        idle_each = {pid: rss_bytes([pid]) for pid in collector.pids()}
        idle = sum(idle_each.values())
        print(f"\n{kind}: {args.workers} workers, idle RSS {idle / MB:.0f} MB, "
              f"bound +{BOUND_MB} MB above idle")  # fmt: skip
        print(f"{'transport':<9} {'MB':>4} {'conc':>4} {'peak+':>7} {'round+':>7}  "
              f"{'s':>5} {'stored':>13}  answers / peak by process (MB above idle)")  # fmt: skip
        for transport in args.transports:
            for mb in args.sizes:
                for concurrency in args.concurrency:
                    for _ in range(args.rounds):
                        r = one_round(collector, transport, mb, concurrency, args.tries, rng)
                        peak = sum(r["peaks"].values())
                        each = ", ".join(
                            f"{labels.get(pid, pid)} {(p - idle_each.get(pid, 0)) / MB:+.0f}"
                            for pid, p in sorted(r["peaks"].items(), key=lambda kv: str(labels.get(kv[0])))
                        )  # fmt: skip
                        over = "  OVER" if peak - idle > BOUND_MB * MB else ""
                        print(
                            f"{transport:<9} {mb:>4g} {concurrency:>4} {(peak - idle) / MB:>+7.0f} "
                            f"{(peak - r['before']) / MB:>+7.0f}  {r['elapsed']:>5.1f} "
                            f"{r['stored']:>6}/{r['sent']:<6}  {dict(r['answers'])} | {each}{over}",
                            flush=True,
                        )
                        time.sleep(args.pause)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 8])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--transports", nargs="+", default=["grpc", "http"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tries", type=int, default=30, help="sends of an export until stored")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between rounds")
    args = parser.parse_args()
    for kind in ("sqlite", "postgres") if args.store == "both" else (args.store,):
        scenario(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
