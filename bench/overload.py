"""Ten times the capacity: does the collector refuse fast, stay bounded and lose nothing?

    .venv/bin/python -m bench.overload                     # SQLite, 20 s of overload
    .venv/bin/python -m bench.overload --seconds 60 --settle 60 --store both
    .venv/bin/python -m bench.overload --quick             # 8 s phases, 60 s settle
    .venv/bin/python -m bench.overload --probe --seconds 15  # a light client's view, 1 vs 2 workers
    .venv/bin/python -m bench.overload --quick --kinds grpc  # only the cheapest client to generate
    .venv/bin/python -m bench.overload --quick --spans 512   # exports the size of an SDK's batch
    .venv/bin/python -m bench.overload --arrivals poisson    # requests at random, not evenly spaced

Every export carries ``--spans`` spans (100 by default). Each request costs the front and the
load generator about the same CPU whatever its size, while storing costs per span: at 10x
the share of the cores left to the runners grows with the export size. An SDK's batch span
processor exports up to 512 spans at once (its default ``max_export_batch_size``) and sends
full batches whenever spans come faster than its schedule, as they do at 10x; 100 is a
lightly loaded exporter's batch, the harder case.

1. Capacity: after a short warm-up (the first seconds of a fresh process store a third
   slower), eight closed-loop gRPC senders (each waits for its answer, and when refused
   for the Retry-After) for ``--seconds``;
   the acknowledged spans per second is the capacity.
2. Overload: ``--factor`` (10) x the capacity, offered open-loop (a request is sent on
   schedule whether or not the earlier ones were answered): gRPC, HTTP protobuf, HTTP gzip,
   HTTP chunked, and slow HTTP clients that trickle their body; beside them, in a process of
   its own, one light probe client. The generator is one asyncio process (bench.loadgen),
   so that it leaves the cores to the collector.
3. Settle: no load for ``--settle`` seconds, then the memory is read again.
4. Capacity again, as in 1, warm-up included (the settle let the collector give its memory
   back). The store grows by ~20 MB a second at capacity (SQLite), and a bigger store stores
   a little slower: capacity before the overload ran on a smaller store than the overload
   did, capacity after on a bigger one. The baseline of this run is their mean; the stored
   share against each is printed too.

Reported: idle, peak and settled RSS of every collector process together (and the growth
by process); answers by code; the share of refusals carrying Retry-After / RetryInfo; p50/p99
latency of refusals and of accepted exports by client kind, and the collector's own side of
it from /metrics; stored throughput during overload against the capacity; and acknowledged
spans missing from the store (must be 0). Each request carries fresh trace ids, so nothing
is deduplicated away. Load generator and collector share this machine's cores: the cores
each used in both phases (front, runners, generator) are printed, since the stored share is
what the generator leaves the runners, and the runners' CPU per span stored in each phase,
by thread too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from typing import Any, NamedTuple

import grpc
import httpx
import sqlalchemy as sa

from bench.ingest import EXPORT, make_batch, postgres_database
from bench.ingest import drive as saturate
from bench.loadgen import ARRIVALS, KINDS, SPANS, Outcome, Plan, run_plan, start_together, template
from glassline.collector.storage import Store
from glassline.collector.storage.models import Span as SpanRow
from glassline.collector.testing import (
    cpu_seconds,
    metric_by_label,
    rss_bytes,
    run_collector,
    thread_cpu_seconds,
)

WARM_UP_S = 5.0  # closed loop, not counted: the first seconds of a fresh process store slower


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Lap(NamedTuple):
    """CPU seconds in one lap: the front's, the runners' (with the supervisor's), and the
    runners' by thread name (see :func:`thread_cpu`)."""

    front: float
    runners: float
    runner_threads: dict[str, float]


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of the live threads of these processes by their OS name, numbers
    dropped (``export_0`` and ``export_1`` count as ``export``)."""
    by_name: Counter[str] = Counter()
    for name, cpu in thread_cpu_seconds(pids).items():
        by_name[re.sub(r"[-_]\d+$", "", name)] += cpu
    return dict(by_name)


class CpuMeter:
    """CPU seconds of the collector's front and of its runners (with the supervisor) per lap."""

    def __init__(self, collector: Any) -> None:
        _, self._front = collector.workers()
        self._collector = collector
        self._last = self._read()

    def _read(self) -> Lap:
        pids = self._collector.pids()
        front = [p for p in pids if p == self._front]
        runners = [p for p in pids if p != self._front]
        return Lap(cpu_seconds(front), cpu_seconds(runners), thread_cpu(runners))

    def rss_each(self) -> dict[str, int]:
        """RSS by process: the front, then the others by pid (supervisor first)."""
        pids = sorted(self._collector.pids(), key=lambda p: (p == self._front, p))
        return {("front" if p == self._front else str(p)): rss_bytes([p]) for p in pids}

    def lap(self) -> Lap:
        now, last = self._read(), self._last
        self._last = now
        threads = {
            name: cpu - last.runner_threads.get(name, 0.0)
            for name, cpu in now.runner_threads.items()
        }
        return Lap(now.front - last.front, now.runners - last.runners, threads)


class HostMeter(threading.Thread):
    """The whole host's busy and idle cores over a window, from ``/proc/stat`` read every
    0.25 s: whether the cores the collector and the generator left went to other processes
    or stayed idle."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, busy s, idle s)
        self.stop = threading.Event()
        self._hz = os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.samples.append((time.monotonic(), *self._read()))

    def _read(self) -> tuple[float, float]:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle and waiting for I/O; guest time is in user already
        return (sum(ticks[:8]) - idle) / self._hz, idle / self._hz

    def cores(self, start: float, end: float) -> tuple[float, float]:
        """(busy, idle) cores between the samples nearest inside [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan")
        (t0, busy0, idle0), (t1, busy1, idle1) = inside[0], inside[-1]
        return (busy1 - busy0) / (t1 - t0), (idle1 - idle0) / (t1 - t0)


class RssSampler(threading.Thread):
    def __init__(self, collector: Any) -> None:
        super().__init__(daemon=True)
        self.collector, self.peak, self.stop = collector, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, rss_bytes(self.collector.pids()))


def drive(
    collector: Any, processes: int, rate: float, seconds: float, closed: bool,
    kinds: tuple[str, ...] = KINDS, first: int = 0, spans: int = SPANS, policy: str = "batch",
    arrivals: str = "uniform",
) -> tuple[list[Outcome], float, tuple[float, float]]:  # fmt: skip
    """The outcomes of every load process, the CPU seconds they spent together, and the window
    (``time.monotonic``) in which all of them were sending.

    ``first`` numbers the processes: a phase of the same kind as an earlier one needs numbers
    of its own, or its trace ids repeat the earlier phase's and are deduplicated away.
    """
    plans = [
        Plan(collector.grpc_endpoint, collector.http_endpoint, collector.api_key, rate / processes,
             seconds, closed, first + worker, kinds=kinds, spans=spans, policy=policy,
             arrivals=arrivals)
        for worker in range(processes)
    ]  # fmt: skip
    if not closed:  # the light client beside the load
        plans.append(Plan(collector.grpc_endpoint, collector.http_endpoint, collector.api_key,
                          0, seconds, closed, first + processes, probe=True,
                          spans=spans, policy=policy))  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    line = spawn.Barrier(len(plans))
    with spawn.Pool(len(plans), initializer=start_together, initargs=(line,)) as pool:
        results = pool.map(run_plan, plans)
    outcomes = [o for outcomes, _, _ in results for o in outcomes]
    started = max(start for _, _, start in results)
    return outcomes, sum(cpu for _, cpu, _ in results), (started, started + seconds)


def _acknowledged_spans(outcomes: list[Outcome], spans: int) -> int:
    return sum(o.prefix is not None for o in outcomes) * spans


def _per_span_ms(cpu_s: float, outcomes: list[Outcome], spans: int) -> str:
    stored = _acknowledged_spans(outcomes, spans)
    return f"{cpu_s / stored * 1e3:.3f}" if stored else "?"


def _by_thread(laps: tuple[Lap, ...], outcomes: tuple[list[Outcome], ...], spans: int) -> str:
    """The runners' CPU per span stored in each phase, by thread name (busiest in overload
    first); "the rest" is the supervisor's, the idle threads' and those that ended."""
    stored = [max(1, _acknowledged_spans(o, spans)) for o in outcomes]
    names = sorted(
        {n for lap in laps for n in lap.runner_threads},
        key=lambda n: -laps[1].runner_threads.get(n, 0.0) / stored[1],
    )
    rows, shown = [], [0.0] * len(laps)
    for name in names:
        micros = [
            lap.runner_threads.get(name, 0.0) / n * 1e6 for lap, n in zip(laps, stored, strict=True)
        ]
        if max(micros) >= 1.0:
            rows.append(f"{name} " + " / ".join(f"{m:.1f}" for m in micros))
            shown = [a + b for a, b in zip(shown, micros, strict=True)]
    rest = [lap.runners / n * 1e6 - done for lap, n, done in zip(laps, stored, shown, strict=True)]
    return ", ".join([*rows, "the rest " + " / ".join(f"{m:.1f}" for m in rest)])


def _store_mb(db_url: str) -> float | None:
    """Size of an SQLite store with its WAL (None for a server database)."""
    url = sa.engine.make_url(db_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    files = (url.database, url.database + "-wal")
    return sum(os.path.getsize(f) for f in files if os.path.exists(f)) / (1024 * 1024)


def lost(db_url: str, acknowledged: list[bytes], spans: int) -> int:
    _, keys = template(spans)
    store = Store.open(db_url)
    try:
        with store.session() as s:
            stored = {tuple(r) for r in s.execute(sa.select(SpanRow.trace_id, SpanRow.span_id))}
    finally:
        store.close()
    return sum(
        (prefix.hex() + tail.hex(), span) not in stored
        for prefix in acknowledged
        for tail, span in keys
    )


def answer_buckets(http_endpoint: str) -> dict[str, list[tuple[str, float]]]:
    """Cumulative buckets, as (le, count), of the collector's answer time by outcome and of
    its runners' processing time (decode to commit) as "processing"."""
    text = httpx.get(f"{http_endpoint}/metrics", timeout=30).text
    out: dict[str, list[tuple[str, float]]] = {}
    pattern = re.compile(r"glassline_(export_answer|processing)_seconds_bucket\{(.*)\} (\S+)")
    for line in text.splitlines():
        found = pattern.match(line)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2)))
            name = labels.get("outcome", "processing")
            out.setdefault(name, []).append((labels["le"], float(found.group(3))))
    for buckets in out.values():
        buckets.sort(key=lambda b: float(b[0]))
    return out


def _bucket_quantile(buckets: list[tuple[str, float]], q: float) -> str:
    total = buckets[-1][1]
    return next((le for le, n in buckets if n >= q * total), "+Inf")


def _load() -> str:
    """The 1-minute load average (the host is shared: figures are read against it)."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def scenario(name: str, storage: dict[str, Any], args: argparse.Namespace) -> None:
    config = {"server": {"workers": args.workers}, "storage": storage}
    load_before = _load()
    workdir = tempfile.TemporaryDirectory(prefix="glassline-overload-")
    with workdir, run_collector(config, workdir=workdir.name, ready_timeout_s=120) as collector:
        time.sleep(2)  # let the workers settle before reading their idle memory
        idle = rss_bytes(collector.pids())
        cpu = CpuMeter(collector)
        idle_each = cpu.rss_each()
        host = HostMeter()
        host.start()
        spans, policy = args.spans, args.generator_policy
        warm_up, _, _ = drive(collector, 1, 0, WARM_UP_S, True, spans=spans, policy=policy)
        cpu.lap()
        sizes = [_store_mb(collector.db_url)]
        capacity_out, capacity_gen_cpu, capacity_window = drive(
            collector, 1, 0, args.seconds, True, first=1, spans=spans, policy=policy
        )
        capacity_cpu = cpu.lap()
        capacity_before = _acknowledged_spans(capacity_out, spans) / args.seconds
        sizes.append(_store_mb(collector.db_url))
        sampler = RssSampler(collector)
        sampler.start()
        offered = args.factor * capacity_before / spans  # requests per second
        overload, overload_gen_cpu, overload_window = drive(
            collector,
            args.processes,
            offered,
            args.seconds,
            False,
            args.kinds,
            spans=spans,
            policy=policy,
            arrivals=args.arrivals,
        )
        overload_cpu = cpu.lap()
        sizes.append(_store_mb(collector.db_url))
        sampler.stop.set()
        time.sleep(min(5.0, args.settle))
        early = rss_bytes(collector.pids())
        time.sleep(max(0.0, args.settle - 5.0))
        settled = rss_bytes(collector.pids())
        settled_each = cpu.rss_each()
        # The settle let the collector give back its memory and idle connections: warm up again.
        warm_again, _, _ = drive(
            collector, 1, 0, WARM_UP_S, True, first=3, spans=spans, policy=policy
        )
        cpu.lap()
        again_out, again_gen_cpu, again_window = drive(
            collector, 1, 0, args.seconds, True, first=2, spans=spans, policy=policy
        )
        again_cpu = cpu.lap()
        host.stop.set()
        capacity_after = _acknowledged_spans(again_out, spans) / args.seconds
        sizes.append(_store_mb(collector.db_url))
        every = warm_up + capacity_out + overload + warm_again + again_out
        missing = lost(collector.db_url, [o.prefix for o in every if o.prefix], spans)
        answers = answer_buckets(collector.http_endpoint)
        bounds = metric_by_label(
            collector.http_endpoint, "glassline_requests_refused_total", "bound"
        )
    accepted = [o for o in overload if o.prefix is not None]
    refused = [o for o in overload if o.code in ("429", "503", "RESOURCE_EXHAUSTED", "UNAVAILABLE")]
    codes = Counter(f"{o.kind}:{o.code}" for o in overload)
    mb = 1024 * 1024
    print(f"\n== {name}: {args.workers} workers, {args.factor:g}x for {args.seconds:g} s, "
          f"{spans} spans an export, {args.arrivals} arrivals, generator policy {policy} "
          f"(load average {load_before} before, {_load()} after) ==")  # fmt: skip
    capacity = (capacity_before + capacity_after) / 2
    print(f"capacity (closed loop, gRPC)   {capacity:10.0f} spans/s   (baseline: the mean of "
          f"{capacity_before:.0f} before the overload and {capacity_after:.0f} after)")  # fmt: skip
    refused_closed = sum(o.prefix is None for o in capacity_out + again_out)
    if refused_closed:  # its senders waited the hint: admission's bound, not the store, set it
        print(f"  ({refused_closed} closed-loop exports were refused: the capacity is what "
              "admission lets through, each refused sender waiting its Retry-After)")  # fmt: skip
    if None not in sizes:
        print("store file (MB): {:.0f}, capacity to {:.0f}, overload to {:.0f}, capacity again "
              "to {:.0f}".format(*sizes))  # fmt: skip
    print(f"offered                        {offered * spans:10.0f} spans/s   "
          f"{len(overload)} requests from {args.processes} processes")  # fmt: skip
    stored_rate = len(accepted) * spans / args.seconds
    print(f"stored during overload         {stored_rate:10.0f} spans/s   "
          f"{stored_rate / capacity:.2f}x capacity ({stored_rate / capacity_before:.2f}x the "
          f"capacity before, {stored_rate / capacity_after:.2f}x after)")  # fmt: skip
    per_span = []
    for phase, (front, runners, _), gen, window, outcomes in (
        ("capacity", capacity_cpu, capacity_gen_cpu, capacity_window, capacity_out),
        ("overload", overload_cpu, overload_gen_cpu, overload_window, overload),
        ("capacity again", again_cpu, again_gen_cpu, again_window, again_out),
    ):
        busy, idle_cores = host.cores(*window)
        print(f"cores during {phase:<14}  front {front / args.seconds:.2f}, runners "
              f"{runners / args.seconds:.2f}, load generator {gen / args.seconds:.2f} "
              f"(of {os.cpu_count()}); the host busy {busy:.2f}, idle {idle_cores:.2f}")  # fmt: skip
        per_span.append(f"{_per_span_ms(runners, outcomes, spans)} ms {phase}")
    # What the open loop's requests cost against what each stored span costs: the share
    # stored at 10x follows from these (see docs/collector.md#overload). A span costs more
    # as the store grows, and the overload runs between the two capacity phases' files.
    print(f"CPU per request offered       front {overload_cpu.front / len(overload) * 1e3:.3f} ms, "
          f"load generator {overload_gen_cpu / len(overload) * 1e3:.3f} ms")  # fmt: skip
    print("runners' CPU per span stored  " + ", ".join(per_span))
    by_thread = _by_thread(
        (capacity_cpu, overload_cpu, again_cpu), (capacity_out, overload, again_out), spans
    )
    print(f"  by thread, µs a span (capacity / overload / capacity again): {by_thread}")
    growth = ", ".join(
        f"{name} {(settled_each.get(name, 0) - before) / mb:+.0f}"
        for name, before in idle_each.items()
    )
    print(f"RSS growth after {args.settle:g} s by process (MB): {growth}")
    print(f"RSS all processes: idle {idle / mb:.0f} MB, peak {sampler.peak / mb:.0f} MB "
          f"(+{(sampler.peak - idle) / mb:.0f}; bound 2 x max_inflight_bytes + 64 MB = +192), "
          f"after 5 s {early / mb:.0f} MB ({early / idle - 1:+.0%} of idle), after "
          f"{args.settle:g} s {settled / mb:.0f} MB ({settled / idle - 1:+.0%}; target within "
          f"10%)")  # fmt: skip
    with_hint = sum(o.hint for o in refused)
    print(
        f"refusals {len(refused)}, with Retry-After/RetryInfo {with_hint / max(1, len(refused)):.0%}"
    )
    for label, group in (("refusal", refused), ("accepted", accepted)):
        times = [o.seconds * 1000 for o in group]
        print(f"latency {label:<9} p50 {_percentile(times, 0.5):8.1f} ms   "
              f"p99 {_percentile(times, 0.99):8.1f} ms")  # fmt: skip
        for kind in sorted({o.kind for o in group}):
            times = [o.seconds * 1000 for o in group if o.kind == kind]
            print(f"  {kind:<10} {len(times):6}      p50 {_percentile(times, 0.5):8.1f} ms   "
                  f"p99 {_percentile(times, 0.99):8.1f} ms")  # fmt: skip
    print("(ok / error: an export's hand-over to its answer; processing: decode to commit)")
    print("(slow: an answer mid-upload timed from the request's start, one after the whole body "
          "from its last byte, the upload itself taking 1.6 s; probe: one light client beside "
          "the load, in a process of its own)")  # fmt: skip
    for outcome, buckets in sorted(answers.items()):
        print(f"collector's side, whole run: {outcome:<10}: "
              f"p50 <= {_bucket_quantile(buckets, 0.5)} s, p99 <= {_bucket_quantile(buckets, 0.99)} s"
              f" ({buckets[-1][1]:.0f} exports)")  # fmt: skip
    print("refused by bound: " + ", ".join(f"{b} {n:.0f}" for b, n in sorted(bounds.items())))
    print("answers: " + ", ".join(f"{k} {n}" for k, n in sorted(codes.items())))
    offered_by_kind = Counter(o.kind for o in overload)
    accepted_by_kind = Counter(o.kind for o in accepted)
    print("accepted of offered, by client (the same odds for each is fair): " + ", ".join(
        f"{kind} {accepted_by_kind[kind] / n:.1%}" for kind, n in sorted(offered_by_kind.items())
    ))  # fmt: skip
    print(f"acknowledged spans lost: {missing}")


def probe(args: argparse.Namespace) -> None:
    """Answer latency seen by ONE light client while closed-loop senders saturate the collector.

    The overload scenario's clients share the two cores with the collector, so its latencies
    include the load generator's own waits; here the probing client sends a 100-span export
    every 50 ms from one thread, and the saturating senders need little CPU (pre-encoded).
    """
    rng = random.Random(3)
    bodies = [make_batch(rng) for _ in range(int(args.seconds * 20) + 40)]
    small = make_batch(rng, SPANS)
    print(f"\n== probe: one light client during saturation, {args.seconds:g} s "
          f"(load average {_load()}) ==")  # fmt: skip
    for workers in (1, 2):
        config = {"server": {"workers": workers}}
        with (
            tempfile.TemporaryDirectory(prefix="glassline-probe-") as work,
            run_collector(config, workdir=work, ready_timeout_s=120) as collector,
        ):
            load = threading.Thread(
                target=saturate, args=(collector.grpc_endpoint, collector.api_key, bodies,
                                       args.seconds + 5, 8), daemon=True,
            )  # fmt: skip
            load.start()
            time.sleep(3)  # the senders fill the queue first
            times: dict[str, list[float]] = {}
            with grpc.insecure_channel(collector.grpc_endpoint) as channel:
                export = channel.unary_unary(EXPORT)
                deadline = time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        export(small, metadata=(("x-glassline-api-key", collector.api_key),),
                               timeout=20)  # fmt: skip
                        code = "accepted"
                    except grpc.RpcError as exc:
                        code = (
                            "refused"
                            if exc.code().name == "RESOURCE_EXHAUSTED"
                            else exc.code().name
                        )
                    times.setdefault(code, []).append((time.perf_counter() - started) * 1000)
                    time.sleep(0.05)
            load.join()
        for code, ms in sorted(times.items()):
            print(f"{workers} worker{'s' if workers > 1 else ' '}  {code:<9} {len(ms):5}   "
                  f"p50 {_percentile(ms, 0.5):7.1f} ms   p90 {_percentile(ms, 0.9):7.1f} ms   "
                  f"p99 {_percentile(ms, 0.99):7.1f} ms")  # fmt: skip
    print(f"(load average after: {_load()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="capacity and overload phases")
    parser.add_argument("--settle", type=float, default=60.0, help="idle time before the last RSS")
    parser.add_argument("--factor", type=float, default=10.0, help="offered load / capacity")
    parser.add_argument(
        "--processes", type=int, default=1, help="open-loop load processes (one event loop each)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--spans", type=int, default=SPANS,
        help=f"spans per export (default {SPANS}; an SDK exporter under load sends its full "
        "batch, 512 by default)",
    )  # fmt: skip
    parser.add_argument(
        "--kinds", type=lambda v: tuple(v.split(",")), default=KINDS,
        help="the clients of the open loop, e.g. grpc (the cheapest to generate); default: "
        "grpc x4, http x2, gzip x2, chunked, slow",
    )  # fmt: skip
    parser.add_argument(
        "--generator-policy", choices=("batch", "other"), default="batch",
        help="the load processes' Linux scheduling policy. batch (default): they take their "
        "share of the CPU but do not preempt the collector when they wake, as clients on other "
        "machines do not; other: the co-located worst case (sessions 9-14 measured this)",
    )  # fmt: skip
    parser.add_argument(
        "--arrivals", choices=ARRIVALS, default="uniform",
        help="the open loop's spacing. uniform (default): one request every 1/rate, each finding "
        "the collector idle since the last, the dearest case for its wake-ups; poisson: "
        "exponential gaps, as the requests of many independent exporters arrive",
    )  # fmt: skip
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="8 s phases")
    parser.add_argument(
        "--probe", action="store_true",
        help="instead: one light client's answer latency while the collector is saturated, "
        "1 worker (receivers and export work in one process) vs 2 (a front and runners)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.seconds = 8.0
    if args.probe:
        probe(args)
        return 0
    if args.store in ("sqlite", "both"):
        scenario("SQLite", {}, args)
    if args.store in ("postgresql", "both"):
        with postgres_database() as url:
            scenario("PostgreSQL", {"url": url}, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
