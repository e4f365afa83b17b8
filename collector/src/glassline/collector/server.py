"""One collector process's work: the whole collector, or the front's or a runner's part.

With ``server.workers: 1`` one process is the whole collector (gRPC + HTTP receivers,
pipeline, jobs). ``server.workers: N`` starts N *runner* processes (pipeline, store, jobs,
alerts) and one *front* process (receivers, admission, the query API) that hands each
admitted export to the least busy runner (:mod:`.handoff`): the work spreads over the runners
however few connections the clients hold, and no export work delays the front's answers.
:mod:`.supervisor` starts and watches the processes.

Shutdown (SIGTERM / SIGINT): /readyz turns 503, both receivers stop accepting, in-flight
exports finish (up to ``server.shutdown_grace_s``), jobs stop and the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn
from sqlalchemy import text

from glassline.collector.admission import Admission
from glassline.collector.alerts import AlertEngine, EvaluationReport, kill_switch
from glassline.collector.alerts import load_config as load_rules
from glassline.collector.alerts import routes as alerts_routes
from glassline.collector.alerts import routes_when_off as alerts_off_routes
from glassline.collector.auth import Keyring
from glassline.collector.config import CollectorConfig
from glassline.collector.errors import ListenError
from glassline.collector.evaluations import EvaluationIntake
from glassline.collector.evaluations import routes as evaluation_routes
from glassline.collector.handoff import Exporter, Exports, Front, Kind, LocalExports, Mesh, Runner
from glassline.collector.jobs import Job, JobRunner
from glassline.collector.logs.consume import CONTENT_STEPS, LogsConsumer, through_intake
from glassline.collector.memory import BurstRelease, collect_cycles_after_startup
from glassline.collector.metrics import Metrics
from glassline.collector.pipeline import Pipeline
from glassline.collector.processors.base import Processor
from glassline.collector.processors.enrich import EnrichProcessor
from glassline.collector.processors.evaluations import EvaluationsProcessor
from glassline.collector.processors.limits import FitColumnsProcessor, LimitsProcessor
from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.processors.redact import RedactProcessor
from glassline.collector.processors.signals import SignalsProcessor
from glassline.collector.receivers import (
    GrpcReceiver,
    Ingest,
    LogsIngest,
    build_app,
    max_unseen_calls,
    uvicorn_config,
)
from glassline.collector.sampling import SamplingSink, TailDecider
from glassline.collector.storage import Store
from glassline.collector.storage import api as query_api

__all__ = ["Role", "Worker", "build_processors"]

_log = logging.getLogger("glassline.collector")


def build_processors(config: CollectorConfig, metrics: Metrics | None = None) -> list[Processor]:
    """The processing chain, in order: limits -> normalize -> enrich -> redact -> evaluations
    -> signals -> fit_columns."""
    chain: list[Processor] = [
        LimitsProcessor(config.limits),
        NormalizeProcessor(),
        EnrichProcessor(config.pricing),
    ]
    if config.redaction is not None:  # null in the config: off, and said so at startup
        chain.append(RedactProcessor(config.redaction, metrics))
    else:
        _log.warning("redaction is OFF (redaction: null): span content is stored as sent")
    chain.append(EvaluationsProcessor())
    chain.append(SignalsProcessor())
    chain.append(FitColumnsProcessor())
    return chain


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the worker owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


Role = Literal["all", "front", "runner"]


class Worker:
    """The collector's work in this process: all of it, or the front's or a runner's part."""

    def __init__(
        self,
        config: CollectorConfig,
        *,
        index: int = 0,
        processors: list[Processor] | None = None,
        mesh: Mesh | None = None,
        role: Role = "all",
        memory: BurstRelease | None = None,
    ) -> None:
        """``processors`` replaces :func:`build_processors` (embedding, tests); ``mesh``
        connects the front and the runners (the supervisor's processes); ``memory`` gets
        the store's release hook (its idle connections are closed when a burst ends)."""
        self.config = config
        self.index = index
        self.role = role
        self._processors = processors
        self._mesh = mesh
        self._memory = memory
        self._front: Front | None = None
        self.keyring = Keyring.from_config(config.auth)
        self.metrics = Metrics()
        self.store: Store | None = None
        self.alerts: AlertEngine | None = None
        # Where evaluations that come without a span go (log records, posted feedback).
        self.evaluations: EvaluationIntake | None = None
        self._accepting = False

    def ready(self) -> bool:
        """Accepting traffic, an export would be stored, and the store answers a query."""
        return self.not_ready() is None

    def not_ready(self) -> str | None:
        """Why this process is not ready (:meth:`ready`), or None."""
        if not self._accepting or self.store is None:
            return "not accepting: starting or shutting down"
        if self._front is not None and not self._front.can_store():
            return "no worker can store right now"
        full = None if self.store.room is None else self.store.room.problem()
        if full is not None:
            return full
        try:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"store unreachable ({type(exc).__name__})"
        return None

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain and close."""
        cfg = self.config.server
        self.store = await asyncio.to_thread(Store.open, self.config.storage)
        if self._mesh is not None and self.store.room is not None:
            self.store.room.share(self._mesh.room)  # the runners write, the front reads
        if self._memory is not None:
            self._memory.on_release(self.store.release_idle)
        rules = self.config.alerts.rules_file
        self.alerts = None
        if rules is not None:
            self.alerts = AlertEngine(self.store, load_rules(rules), on_pass=self._alerts_passed)
        if self.role == "runner":
            await self._run_exports(stop)
            return
        exports = self._exports(self.store)
        # The exports that run at once: this process's threads, or every runner's.
        slots = cfg.grpc_threads * (cfg.workers if self.role == "front" else 1)
        # A gRPC call whose message is not whole after a body rate window gives its receiving
        # place way when they are all taken: the least body rate's counterpart for gRPC.
        stall_after_s = cfg.http_body_rate_window_s if cfg.http_body_min_rate_bytes_s else None
        admission = Admission(
            cfg.max_inflight_bytes, cfg.max_inflight_requests, self.metrics, cfg.retry_after_s,
            max_queue_wait_s=cfg.max_queue_wait_s, max_receiving=cfg.max_receiving_requests,
            max_unseen=max_unseen_calls(cfg), slots=slots, stall_after_s=stall_after_s,
        )  # fmt: skip
        grpc_receiver = GrpcReceiver(cfg, self.keyring, admission, exports, self.metrics)
        grpc_port = grpc_receiver.start()
        app = build_app(
            cfg, self.keyring, admission, exports, self.metrics, not_ready=self.not_ready,
            api_routes=self._api_routes(),
        )  # fmt: skip
        sock = _http_socket(cfg.host, cfg.http_port)
        http = _QuietServer(uvicorn_config(app, cfg))
        http_task = asyncio.create_task(http.serve(sockets=[sock]))
        jobs = None if self.role == "front" else self._start_jobs()
        alerts_task = None if self.role == "front" else self._start_alerts(stop)
        await self._started(http)
        self._log_listeners(grpc_port, sock.getsockname()[1])
        collect_cycles_after_startup()  # Presidio, SQLAlchemy, grpc, pydantic: frozen
        self._accepting = True
        await stop.wait()
        await self._shutdown(grpc_receiver, http, http_task, jobs, exports)
        if alerts_task is not None:
            await alerts_task

    async def _run_exports(self, stop: asyncio.Event) -> None:
        """A runner: run what the front hands over until ``stop``, then finish it and close."""
        assert self.store is not None and self._mesh is not None
        cfg = self.config.server
        runner = Runner(self._exporters(self.store), cfg.grpc_threads, self.metrics,
                        index=self.index, mesh=self._mesh, retry_after_s=cfg.retry_after_s)  # fmt: skip
        jobs = self._start_jobs()
        alerts_task = self._start_alerts(stop)
        collect_cycles_after_startup()
        runner.open()
        _log.info("worker %d of %d ready", self.index + 1, cfg.workers)
        await stop.wait()
        _log.info(
            "shutting down: finishing handed-over exports (up to %.0fs)", cfg.shutdown_grace_s
        )
        await asyncio.to_thread(runner.close, cfg.shutdown_grace_s)
        await asyncio.to_thread(jobs.stop)
        self._close()
        if alerts_task is not None:
            await alerts_task

    def _exports(self, store: Store) -> Exports:
        """Where the receivers' exports run: here, or (the front) on the runners."""
        cfg = self.config.server
        if self.role != "front":
            return LocalExports(self._exporters(store), cfg.grpc_threads, self.metrics,
                                retry_after_s=cfg.retry_after_s)  # fmt: skip
        assert self._mesh is not None
        # The front stores no exports, but posted evaluations are redacted like spans.
        redactor = None
        if self.config.redaction is not None:
            redactor = RedactProcessor(self.config.redaction, self.metrics).redactor
        self.evaluations = EvaluationIntake(store, redactor)
        self._front = Front(self._mesh, metrics=self.metrics, retry_after_s=cfg.retry_after_s)
        return self._front

    def _start_jobs(self) -> JobRunner:
        assert self.store is not None
        jobs = JobRunner(self.store, self._jobs(), lease_ttl_s=self.config.jobs.lease_ttl_s)
        jobs.start()
        return jobs

    def _exporters(self, store: Store) -> dict[Kind, Exporter]:
        """The pipelines: spans (processors, sampling, store) and GenAI log events."""
        cfg = self.config.server
        processors = self._processors
        if processors is None:
            processors = build_processors(self.config, self.metrics)
        sampled = SamplingSink(store, self.config.sampling)
        sink = store if sampled.passthrough else sampled
        pipeline = Pipeline(processors, sink, self.metrics, retry_after_s=cfg.retry_after_s)
        redactors = [p.redactor for p in processors if isinstance(p, RedactProcessor)]
        self.evaluations = EvaluationIntake(store, redactors[0] if redactors else None)
        limits = self.config.limits
        max_spans, max_objects = limits.max_spans_per_request, limits.max_objects_per_request
        # GenAI events take the spans' own limits and redaction steps, then the content table.
        steps = [p for p in processors if p.name in CONTENT_STEPS]
        content = Pipeline(steps, None, self.metrics, retry_after_s=cfg.retry_after_s)
        logs = LogsConsumer(content, store, evaluations=through_intake(self.evaluations))
        return {
            "traces": Ingest(
                pipeline.consume, self.metrics, max_spans=max_spans, max_objects=max_objects
            ),
            "logs": LogsIngest(
                logs.consume, self.metrics, max_records=max_spans, max_objects=max_objects
            ),
        }

    async def _started(self, http: uvicorn.Server) -> None:
        deadline = time.monotonic() + 30
        while not http.started and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # uvicorn has no started event to await
        if not http.started:
            raise RuntimeError("the HTTP listener did not start")

    async def _shutdown(
        self, grpc_receiver: GrpcReceiver, http: uvicorn.Server, http_task: Any,
        jobs: JobRunner | None, exports: Exports,
    ) -> None:  # fmt: skip
        self._accepting = False
        grace = self.config.server.shutdown_grace_s
        _log.info("shutting down: draining in-flight exports (up to %.0fs)", grace)
        http.should_exit = True
        await asyncio.gather(asyncio.to_thread(grpc_receiver.stop, grace), http_task)
        await asyncio.to_thread(exports.close, grace)  # the front: the runners may finish now
        if jobs is not None:
            await asyncio.to_thread(jobs.stop)
        self._close()

    def _close(self) -> None:
        if self.alerts is not None:
            self.alerts.close()
        if self.store is not None:
            self.store.close()
        _log.info("stopped")

    def _api_routes(self) -> list[Any]:
        assert self.store is not None
        routes = list(query_api.routes(self.store))
        routes += kill_switch.routes(self.store.engine)
        if self.evaluations is not None:
            routes += evaluation_routes(self.store, self.evaluations)
        if self.alerts is not None:
            routes += alerts_routes(self.store, self.alerts)
        else:
            routes += alerts_off_routes()
        return routes

    def _jobs(self) -> list[Job]:
        assert self.store is not None
        store, sampling = self.store, self.config.sampling
        jobs = [Job("retention", self.config.jobs.retention_interval_s, self._purge)]
        if store.config.partitioning is not None:
            # premake periods ahead make an hourly run (the default) far more than enough.
            interval = self.config.jobs.retention_interval_s
            jobs.append(Job("partitions", interval, store.premake_partitions))
        if store.dialect == "postgresql":
            # Two replicas committing a span and its content events at the same moment do
            # not see each other's rows; this job joins them shortly after.
            jobs.append(Job("content_attach", 30.0, store.attach_pending_content))
        if sampling.needs_job:  # tail decisions, and the purge of head-sampling state
            # The job lease already makes this the only decider; the decider needs none of its own.
            decider = TailDecider(store, sampling)
            interval = max(0.5, sampling.decision_wait_s / 4)
            jobs.append(Job("tail_sampling", interval, lambda: self._decide(decider)))
        return jobs

    def _purge(self) -> None:
        """The retention job: the store's expired rows, then the SLO day counts no rule's
        period holds (the rules are the alert engine's)."""
        assert self.store is not None
        self.store.purge()
        if self.alerts is not None:
            self.alerts.purge_expired()

    def _decide(self, decider: TailDecider) -> None:
        report = decider.run_once()
        for policy, n in report.kept_by_policy.items():
            self.metrics.traces_sampled.labels("kept", policy).inc(n)
        if report.dropped:
            self.metrics.traces_sampled.labels("dropped", "").inc(report.dropped)

    def _alerts_passed(self, report: EvaluationReport) -> None:
        if self.alerts is None:
            return
        now = int(report.evaluated_at.timestamp())
        for notifier in self.alerts.config.notifiers:
            count, oldest = report.waiting.get(notifier.name, (0, now))
            self.metrics.alerts_waiting.labels(notifier.name).set(count)
            self.metrics.alerts_waiting_age.labels(notifier.name).set(now - oldest)

    def _start_alerts(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """The alert engine: its own lease, its own interval."""
        if self.alerts is None:
            return None
        return asyncio.create_task(self.alerts.run(stop))

    def reload(self) -> None:
        """SIGHUP: re-read the alert rule file (the rest of the config needs a restart)."""
        if self.alerts is not None and self.config.alerts.rules_file is not None:
            self.alerts.reload(self.config.alerts.rules_file)
        else:
            _log.info("SIGHUP: no alert rule file configured; nothing to reload")

    def _log_listeners(self, grpc_port: int, http_port: int) -> None:
        cfg = self.config.server
        scheme = "https" if cfg.tls else "http"
        tls = " (TLS)" if cfg.tls else ""
        _log.info("OTLP/gRPC listening on %s:%d%s", cfg.host, grpc_port, tls)
        _log.info("OTLP/HTTP listening on %s://%s:%d/v1/traces and /v1/logs", scheme,
                  cfg.host, http_port)  # fmt: skip
        _log.info("query API, /metrics, /healthz, /readyz on %s://%s:%d", scheme, cfg.host,
                 http_port)  # fmt: skip


def _http_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio disables Nagle only on sockets whose proto says TCP, and an
    # accepted socket inherits the listener's. With Nagle on, the second write of an answer
    # (its body, after the headers) waited for the client's delayed ACK: HTTP refusals on a
    # busy keep-alive connection took 43 ms at the median (bench.overload).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:  # in use, or no such address here: the operator's to fix
        sock.close()
        reason = f"no such host ({exc.strerror})" if isinstance(exc, socket.gaierror) else None
        raise ListenError("http_port", host, port, reason or str(exc.strerror)) from None
    sock.set_inheritable(True)
    return sock
