"""server.py + cli.py: the real collector process, end to end, shutdown, workers, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy import text as sql_text

from glassline.collector.alerts import AlertEngine
from glassline.collector.alerts import load_config as load_rules
from glassline.collector.alerts.models import SloCount
from glassline.collector.config import load_config
from glassline.collector.records import SpanRecord
from glassline.collector.server import Worker
from glassline.collector.storage import Store
from glassline.collector.storage.models import Span
from glassline.collector.storage.testing import isolated_postgres_url
from glassline.collector.testing import RunningCollector, free_port, run_collector
from tests.certificates import self_signed

CLI = [sys.executable, "-m", "glassline.collector.cli"]


def send(exporters: list[Any], names: list[str]) -> None:
    provider = TracerProvider()
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    for name in names:
        with provider.get_tracer("t").start_as_current_span(name) as span:
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.prompt_tokens", 12)  # an older name, normalized
            span.set_attribute("gen_ai.input.messages", "mail jane.roe@example.org today")
    provider.shutdown()


def stored(db_url: str) -> list[Span]:
    store = Store.open(db_url)
    try:
        with store.session() as session:
            return list(session.scalars(select(Span).order_by(Span.name)))
    finally:
        store.close()


def test_help_explains_commands_and_examples() -> None:
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    for text in ("check-config", "keygen", "--config", "examples:", "GLASSLINE_API_KEYS"):
        assert text in out


def test_check_config_exits_2_with_every_error_and_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "server:\n  grpc_port: 70000\n  workers: 0\nauth:\n  tenants: {acme: [short]}\n"
    )
    proc = subprocess.run(
        [*CLI, "check-config", "--config", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "server.grpc_port: Input should be less than 65536 (got 70000)" in proc.stderr
    assert "server.workers: Input should be greater than or equal to 1 (got 0)" in proc.stderr
    run = subprocess.run([*CLI, "--config", str(path)], capture_output=True, text=True)
    assert run.returncode == 2 and "server.grpc_port" in run.stderr


def test_stock_exporters_store_normalized_spans_for_the_keys_tenant(tmp_path: Path) -> None:
    with run_collector({}, workdir=tmp_path) as collector:
        grpc_exp = GrpcExporter(
            endpoint=collector.grpc_endpoint,
            insecure=True,
            headers={"x-glassline-api-key": collector.api_keys["acme"]},
        )
        http_exp = HttpExporter(endpoint=f"{collector.http_endpoint}/v1/traces",
                                headers=collector.headers("globex"))  # fmt: skip
        send([grpc_exp], ["a1", "a2"])
        send([http_exp], ["g1"])
        assert httpx.get(f"{collector.http_endpoint}/readyz").status_code == 200
        api = f"{collector.http_endpoint}/api/v1/traces"
        assert httpx.get(api).status_code == 401
        mine = httpx.get(api, headers=collector.headers("globex")).json()["traces"]
        assert len(mine) == 1  # the query API is mounted behind the same keys, tenant-scoped
        every = httpx.get(api, headers={"x-glassline-api-key": collector.admin_key}).json()
        assert len(every["traces"]) == 3
        metrics = httpx.get(f"{collector.http_endpoint}/metrics").text
        assert "glassline_spans_stored_total 3.0" in metrics
        assert (
            'glassline_redactions_total{entity="EMAIL_ADDRESS",placement="attribute"} 3.0'
            in metrics
        )
        logs = collector.logs()
    spans = stored(collector.db_url)
    assert [(s.name, s.tenant, s.model, s.input_tokens) for s in spans] == [
        ("a1", "acme", "gpt-4o-mini", 12),
        ("a2", "acme", "gpt-4o-mini", 12),
        ("g1", "globex", "gpt-4o-mini", 12),
    ]
    assert f"OTLP/gRPC listening on 127.0.0.1:{collector.grpc_port}" in logs
    assert f"OTLP/HTTP listening on http://127.0.0.1:{collector.http_port}/v1/traces" in logs
    assert collector.api_keys["acme"] not in logs and collector.admin_key not in logs
    assert "Loaded recognizer" not in logs  # Presidio's INFO chatter is off
    assert "jane.roe" not in logs
    # Redaction ran before the write: the address never reached the database.
    assert all("jane.roe" not in str(s.attributes) for s in spans)
    assert all(s.attributes["glassline.redaction.entities"] == {"EMAIL_ADDRESS": 1} for s in spans)


class Gate:
    """A processor that holds each batch until released: an export caught in flight."""

    name = "gate"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        self.entered.set()
        assert self.release.wait(30)
        return batch


def test_shutdown_stops_accepting_and_drains_in_flight_exports(tmp_path: Path, h: Any) -> None:
    port = free_port()
    config = load_config(
        {"server": {"grpc_port": free_port(), "http_port": port},
         "storage": {"url": f"sqlite:///{tmp_path / 'gl.db'}"},
         "auth": {"tenants": {"acme": [h.API_KEY]}}},
        environ={},
    )  # fmt: skip
    gate = Gate()
    worker = Worker(config, processors=[gate])
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=lambda: loop.run_until_complete(worker.serve(stop)))
    server.start()
    h.wait_for(worker.ready, "the worker to be ready")
    body = h.make_request(h.make_span(1)).SerializeToString()
    replies: list[httpx.Response] = []
    client = threading.Thread(target=lambda: replies.append(httpx.post(
        f"http://127.0.0.1:{port}/v1/traces", content=body, timeout=30,
        headers={"content-type": "application/x-protobuf", "x-glassline-api-key": h.API_KEY})))  # fmt: skip
    client.start()
    assert gate.entered.wait(10)
    loop.call_soon_threadsafe(stop.set)
    h.wait_for(lambda: not worker.ready(), "shutdown to begin")

    def refused() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except httpx.TransportError:
            return True
        return False

    h.wait_for(refused, "the listener to close")
    assert server.is_alive()  # still draining the held export
    gate.release.set()
    client.join(30)
    server.join(30)
    assert not server.is_alive()
    assert replies[0].status_code == 200
    assert [s.span_id for s in stored(f"sqlite:///{tmp_path / 'gl.db'}")] == ["0000000000000001"]


def test_two_workers_share_the_ports_and_the_store(tmp_path: Path) -> None:
    with run_collector({"server": {"workers": 2}}, workdir=tmp_path) as collector:
        exporter = HttpExporter(endpoint=f"{collector.http_endpoint}/v1/traces",
                                headers=collector.headers())  # fmt: skip
        names = [f"w{i}" for i in range(20)]
        send([exporter], names)
        logs = collector.logs()
        metrics = httpx.get(f"{collector.http_endpoint}/metrics").text
    assert "started 2 workers" in logs
    assert sorted(s.name for s in stored(collector.db_url)) == sorted(names)
    assert "glassline_spans_stored_total 20.0" in metrics  # summed over both workers
    stops = [line for line in collector.logs().splitlines() if line.endswith(" stopped")]
    assert len(stops) == 3, stops  # both workers and the front drained and stopped
    assert collector.process.returncode == 0


def test_tls_serves_grpc_and_http_with_the_configured_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests (inside the HTTP exporter) prefers these over the exporter's certificate_file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = self_signed(tmp_path)
    config = {"server": {"tls": {"cert_file": str(cert), "key_file": str(key)}}}
    with run_collector(config, workdir=tmp_path) as collector:
        assert collector.http_endpoint.startswith("https://")
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        grpc_exp = GrpcExporter(endpoint=collector.grpc_endpoint, credentials=creds,
                                headers={"x-glassline-api-key": collector.api_key})  # fmt: skip
        http_exp = HttpExporter(endpoint=f"{collector.http_endpoint}/v1/traces",
                                certificate_file=str(cert), headers=collector.headers())  # fmt: skip
        send([grpc_exp], ["over-grpc"])
        send([http_exp], ["over-https"])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{collector.http_port}/healthz", timeout=5)
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"{collector.http_endpoint}/healthz", verify=trust).text == "ok\n"
    assert [s.name for s in stored(collector.db_url)] == ["over-grpc", "over-https"]


def test_a_worker_that_cannot_start_stops_the_collector_with_exit_1(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: the workers cannot share this port
    taken.listen()
    config = tmp_path / "c.yaml"
    config.write_text(
        f"server: {{workers: 2, grpc_port: {free_port()}, http_port: {taken.getsockname()[1]}}}\n"
        f"storage: {{url: 'sqlite:///{tmp_path / 'gl.db'}'}}\n"
        "auth: {tenants: {acme: [test-key-123456]}}\n"
    )
    try:
        proc = subprocess.run([*CLI, "--config", str(config)], capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    finally:
        taken.close()
    assert proc.returncode == 1
    assert "exited (code 1); stopping the others" in proc.stderr


def test_sighup_reloads_alert_rules_and_never_kills_a_worker(tmp_path: Path, h: Any) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n")
    with run_collector({"alerts": {"rules_file": str(rules)}}, workdir=tmp_path) as collector:
        rules.write_text("rules:\n  - {name: spend, kind: budget, window: 24h, limit_usd: 5}\n")
        collector.process.send_signal(signal.SIGHUP)
        h.wait_for(lambda: "alert config reloaded: 1 rules" in collector.logs(), "the reload")
        assert httpx.get(f"{collector.http_endpoint}/healthz").status_code == 200
    with run_collector({"server": {"workers": 2}}, workdir=tmp_path / "two") as collector:
        collector.process.send_signal(signal.SIGHUP)  # run_collector awaited both workers
        # Both workers and the front (whose query API shows the rules) reload.
        h.wait_for(lambda: collector.logs().count("nothing to reload") == 3, "every process")
        assert collector.process.poll() is None
        assert httpx.get(f"{collector.http_endpoint}/readyz").status_code == 200


def test_the_pipeline_runs_limits_normalize_enrich_redact_in_that_order() -> None:
    from glassline.collector.server import build_processors

    env = {"GLASSLINE_API_KEYS": "acme=test-key-123456"}
    on = build_processors(load_config({}, environ=env))
    assert [p.name for p in on] == [
        "limits", "normalize", "enrich", "redact", "evaluations", "signals", "fit_columns",
    ]  # fmt: skip
    off = build_processors(load_config({"redaction": None}, environ=env))
    assert [p.name for p in off] == [
        "limits", "normalize", "enrich", "evaluations", "signals", "fit_columns",
    ]  # fmt: skip


def test_sampling_is_wired_counted_in_metrics_and_never_changes_rollup_totals(
    tmp_path: Path, h: Any
) -> None:
    from glassline.collector.storage.models import Rollup

    config = {"sampling": {"tail_enabled": True, "decision_wait_s": 0.5,
                           "policies": [{"type": "error"}]}}  # fmt: skip
    with run_collector(config, workdir=tmp_path) as collector:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(GrpcExporter(
            endpoint=collector.grpc_endpoint, insecure=True,
            headers={"x-glassline-api-key": collector.api_key})))  # fmt: skip
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("fine"):
            pass
        with tracer.start_as_current_span("broken") as span:
            span.set_status(trace.StatusCode.ERROR)
        provider.shutdown()

        def decided() -> bool:
            text = httpx.get(f"{collector.http_endpoint}/metrics").text
            return ('glassline_traces_sampled_total{decision="kept",policy="error"} 1.0' in text
                    and 'glassline_traces_sampled_total{decision="dropped",policy=""} 1.0' in text)  # fmt: skip

        h.wait_for(decided, "the tail decision", 60)
    assert [s.name for s in stored(collector.db_url)] == ["broken"]
    store = Store.open(collector.db_url)
    try:
        with store.session() as session:
            assert session.scalar(select(func.sum(Rollup.count))) == 2  # both still counted
    finally:
        store.close()


@pytest.mark.parametrize(
    ("sampling", "scheduled"),
    [({}, False), ({"head_rate": 0.5}, True), ({"tail_enabled": True}, True)],
)
def test_the_sampling_job_runs_whenever_sampling_leaves_state_to_purge(
    tmp_path: Path, sampling: dict[str, Any], scheduled: bool
) -> None:
    env = {"GLASSLINE_API_KEYS": "acme=test-key-123456"}
    db_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = load_config({"storage": {"url": db_url}, "sampling": sampling}, environ=env)
    worker = Worker(config)
    worker.store = Store.open(config.storage)
    try:
        names = [job.name for job in worker._jobs()]
    finally:
        worker.store.close()
    assert ("tail_sampling" in names) is scheduled
    assert "retention" in names


def test_the_retention_job_deletes_the_slo_day_counts_no_rule_period_holds(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: fast, kind: slo, sli: latency, objective: 0.9, "
                     "threshold_ms: 1000, period: 7d}\n")  # fmt: skip
    env = {"GLASSLINE_API_KEYS": "acme=test-key-123456"}
    db_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = load_config(
        {"storage": {"url": db_url}, "alerts": {"rules_file": str(rules)}}, environ=env
    )
    worker = Worker(config)
    worker.store = Store.open(config.storage)
    worker.alerts = AlertEngine(worker.store, load_rules(rules))
    today = int(time.time()) // 86_400 * 86_400
    try:
        with worker.store.engine.begin() as conn:
            conn.execute(insert(SloCount), [
                {"slo": "s", "tenant": "acme", "day": today - days * 86_400, "counts": {}}
                for days in (30, 9, 2)
            ])  # fmt: skip
        [retention] = [job for job in worker._jobs() if job.name == "retention"]
        retention.run()
        with worker.store.engine.connect() as conn:
            days = conn.scalars(select(SloCount.day)).all()
    finally:
        worker.alerts.close()
        worker.store.close()
    assert days == [today - 2 * 86_400]  # past 7 days + 1: gone


def test_head_sampled_out_spans_show_on_metrics_and_stay_in_the_rollups(tmp_path: Path) -> None:
    from glassline.collector.storage.models import Rollup

    with run_collector({"sampling": {"head_rate": 0.0}}, workdir=tmp_path) as collector:
        exporter = HttpExporter(
            endpoint=f"{collector.http_endpoint}/v1/traces",
            headers={"x-glassline-api-key": collector.api_key},
        )
        send([exporter], ["first", "second"])
        text = httpx.get(f"{collector.http_endpoint}/metrics", timeout=10).text
    assert 'glassline_spans_dropped_total{processor="sampling"} 2.0' in text
    assert "glassline_spans_stored_total 0.0" in text
    assert stored(collector.db_url) == []
    store = Store.open(collector.db_url)
    try:
        with store.session() as session:
            assert session.scalar(select(func.sum(Rollup.count))) == 2
    finally:
        store.close()


def test_garbage_certificate_or_mismatched_key_fails_check_config_with_the_cause(
    tmp_path: Path,
) -> None:
    cert, key = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = self_signed(other)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    cases = [
        (garbage, key, "is not a PEM certificate"),
        (cert, other_key, "is not the private key of cert_file"),
        (cert, garbage, "is not a PEM private key"),
    ]
    for cert_file, key_file, cause in cases:
        path = tmp_path / "tls.yaml"
        path.write_text(
            f"server:\n  tls: {{cert_file: {cert_file}, key_file: {key_file}}}\n"
            "auth:\n  anonymous_tenant: demo\n"
        )
        for command in (["check-config"], []):  # and at startup, before anything binds
            proc = subprocess.run(
                [*CLI, *command, "--config", str(path)], capture_output=True, text=True
            )
            assert proc.returncode == 2, proc.stderr
            assert "server.tls:" in proc.stderr and cause in proc.stderr


@contextlib.contextmanager
def _held_reads(url: str) -> Iterator[Callable[[], int]]:
    """Every read of ``traces`` waits on a lock until the block ends; yields a count of the
    trace list's reads waiting on it."""
    lister = create_engine(url)
    locker = lister.connect()
    locker.execute(sql_text("LOCK TABLE traces IN ACCESS EXCLUSIVE MODE"))
    locker_pid = locker.execute(sql_text("SELECT pg_backend_pid()")).scalar_one()

    def waiting_reads() -> int:
        with lister.connect() as conn:
            return int(conn.execute(sql_text(
                "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid)) "
                "AND query LIKE '%traces.root_name%'"
            ), {"pid": locker_pid}).scalar_one())  # fmt: skip

    try:
        yield waiting_reads
    finally:
        locker.rollback()
        locker.close()
        lister.dispose()


def _query_reads(collector: RunningCollector, outcome: str) -> float:
    text = httpx.get(f"{collector.http_endpoint}/metrics", timeout=10).text
    found = re.search(rf'^glassline_query_reads_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.postgres
@pytest.mark.parametrize("wait_s", [0.2, 60.0])
def test_query_reads_past_the_limit_wait_for_a_slot_not_for_the_stores_connections(
    tmp_path: Path, h: Any, wait_s: float
) -> None:
    """Each read holds a pooled connection the exports' writes need: past
    ``server.max_inflight_queries`` a read waits for a slot, holding no connection, up to
    ``max_queue_wait_s``, then is answered 429 + Retry-After (48 slow reads took all 15
    connections and an accepted export waited 22 s for one)."""
    limit = 2
    server = {"max_inflight_queries": limit, "max_queue_wait_s": wait_s}
    with (
        isolated_postgres_url() as url,
        run_collector({"storage": {"url": url}, "server": server}, workdir=tmp_path) as collector,
    ):
        answers: dict[int, httpx.Response] = {}

        def read(n: int) -> None:
            answers[n] = httpx.get(
                f"{collector.http_endpoint}/api/v1/traces", headers=collector.headers(), timeout=90
            )

        threads = [threading.Thread(target=read, args=(n,)) for n in range(limit + 1)]
        with _held_reads(url) as waiting_reads:
            for thread in threads[:limit]:
                thread.start()
            h.wait_for(lambda: waiting_reads() == limit, f"{limit} reads waiting on the lock")
            threads[limit].start()
            h.wait_for(lambda: _query_reads(collector, "waited") == 1, "the extra read waits")
            if wait_s < 1:  # the held reads outlast its wait: refused, never at the store
                h.wait_for(lambda: limit in answers, "the extra read's answer")
                assert answers[limit].status_code == 429
                assert answers[limit].headers["retry-after"] == "1"
                assert "max_inflight_queries" in answers[limit].json()["error"]
            assert waiting_reads() == limit, "the extra read went to the store"
            assert httpx.get(f"{collector.http_endpoint}/readyz", timeout=60).status_code == 200
        for thread in threads:
            thread.join(90)
        served = [answers[n].status_code for n in range(limit + 1)]
        assert served == [200] * limit + ([429] if wait_s < 1 else [200])
        assert _query_reads(collector, "refused") == (1 if wait_s < 1 else 0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("setting", ["grpc_port", "http_port"])
def test_a_port_another_program_holds_is_one_line_naming_the_setting(
    tmp_path: Path, setting: str, workers: int
) -> None:
    # Each was a traceback (gRPC's "Failed to bind", its reason only in gRPC's own stderr;
    # uvicorn's OSError), then "worker front exited (code 1)".
    ports = {"grpc_port": free_port(), "http_port": free_port()}
    config = tmp_path / "collector.yaml"
    config.write_text(
        f"auth: {{anonymous_tenant: acme}}\nstorage: {{url: 'sqlite:///{tmp_path}/g.db'}}\n"
        f"server: {{workers: {workers}, grpc_port: {ports['grpc_port']}, "
        f"http_port: {ports['http_port']}}}\n"
    )
    with socket.create_server(("127.0.0.1", ports[setting])):  # another program's listener
        done = subprocess.run(
            [sys.executable, "-m", "glassline.collector", "--config", str(config)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    expected = (
        f"server.{setting}: cannot listen on 127.0.0.1:{ports[setting]}: Address already in use"
    )
    assert "ERROR glassline.collector [" in done.stderr and expected in done.stderr, done.stderr


def _fill(path: Path) -> None:
    """Write ``path`` until its file system has no byte left."""
    with path.open("wb", buffering=0) as filler:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):  # ENOSPC: on to smaller writes
                while True:
                    filler.write(b"\0" * size)


@pytest.mark.parametrize("workers", [1, 2])
def test_readyz_is_503_naming_a_full_disk_and_200_once_there_is_room(
    tmp_path: Path, h: Any, workers: int
) -> None:
    """Writes on a full disk were refused (503 with the hint) while /readyz said 200, so a
    load balancer kept sending exports that could not be stored. The store is on a 16 MB
    tmpfs of the collector's own mount namespace; the test fills it from outside."""
    folder = tmp_path / "store"
    folder.mkdir()
    mount = f'mount -t tmpfs -o size=16m tmpfs "{folder}" && exec "$@"'
    wrap = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, "sh"]
    config = {
        "server": {"workers": workers},
        "redaction": None,
        "storage": {"url": f"sqlite:///{folder}/glassline.db"},
    }
    with run_collector(config, workdir=tmp_path, wrap=wrap) as collector:
        filler = Path(f"/proc/{collector.process.pid}/root{folder}/filler")  # its tmpfs
        _fill(filler)
        url = f"{collector.http_endpoint}/v1/traces"
        headers = {**collector.headers(), "content-type": "application/json"}
        attributes = [{"key": "gen_ai.input.messages", "value": {"stringValue": "x" * 2000}}]
        sent = iter(range(1, 100_000))

        def refused_for_space() -> bool:  # the WAL takes writes until it must grow
            trace_id = f"{next(sent):032x}"
            spans = [{"traceId": trace_id, "spanId": f"{i:016x}", "name": "s",
                      "startTimeUnixNano": "1", "endTimeUnixNano": "2",
                      "attributes": attributes} for i in range(1, 201)]  # fmt: skip
            body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
            return httpx.post(url, json=body, headers=headers, timeout=60).status_code == 503

        h.wait_for(refused_for_space, "a write refused for want of space", 120)
        full = httpx.get(f"{collector.http_endpoint}/readyz", timeout=60)
        filler.unlink()
        h.wait_for(
            lambda: httpx.get(f"{collector.http_endpoint}/readyz", timeout=60).status_code == 200,
            "ready again once there is room",
            60,
        )
    assert full.status_code == 503, full.text
    assert "disk is full" in full.text
