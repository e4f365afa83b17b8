"""OTLP/gRPC receiver: ``TraceService/Export`` and ``LogsService/Export`` (GenAI events).

Requests arrive as raw bytes (no deserializer) so the decoder can reject single spans instead
of the whole message. Answers: OK with ``partial_success`` when some spans were rejected;
UNAUTHENTICATED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED / UNAVAILABLE with a
``google.rpc.retryinfo-bin`` trailer that the stock exporter honours as its retry delay.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo

from glassline.collector.auth import Keyring, key_from_headers
from glassline.collector.config import ServerConfig
from glassline.collector.errors import GlasslineError, PermanentError, RetryableError
from glassline.collector.metrics import Metrics
from glassline.collector.pipeline import Admission
from glassline.collector.receivers._ingest import Ingest, LogsIngest

__all__ = ["GrpcReceiver"]

_log = logging.getLogger(__name__)
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


class GrpcReceiver:
    """A grpcio server with the TraceService (and the LogsService when ``logs`` is given);
    :meth:`start` binds and returns the port. Both go through the same admission."""

    def __init__(
        self,
        config: ServerConfig,
        keyring: Keyring,
        admission: Admission,
        ingest: Ingest,
        metrics: Metrics,
        logs: LogsIngest | None = None,
    ) -> None:
        self._config = config
        self._keyring = keyring
        self._admission = admission
        self._ingest = ingest
        self._logs = logs
        self._metrics = metrics
        self._server: grpc.Server | None = None

    def start(self) -> int:
        cfg = self._config
        server = grpc.server(
            ThreadPoolExecutor(max_workers=cfg.grpc_threads, thread_name_prefix="grpc"),
            options=[
                # Twice the limit so a slightly large message gets our clear INVALID_ARGUMENT;
                # gRPC itself refuses anything beyond before reading it.
                ("grpc.max_receive_message_length", 2 * cfg.max_message_bytes),
                ("grpc.so_reuseport", 1 if cfg.workers > 1 else 0),
                *_connection_age(cfg.grpc_max_connection_age_s, cfg.shutdown_grace_s),
            ],
            # No queue beyond the handler threads: a queued RPC would hold its message in
            # memory outside the admission limit. gRPC answers RESOURCE_EXHAUSTED beyond this.
            maximum_concurrent_rpcs=cfg.grpc_threads,
        )
        services = {SERVICE: self._ingest}
        if self._logs is not None:
            services[LOGS_SERVICE] = self._logs
        server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(name, {"Export": self._handler(ingest)})
                for name, ingest in services.items()
            )
        )
        address = f"{cfg.host}:{cfg.grpc_port}"
        if cfg.tls is not None:
            creds = grpc.ssl_server_credentials(
                [(cfg.tls.key_file.read_bytes(), cfg.tls.cert_file.read_bytes())]
            )
            port = server.add_secure_port(address, creds)
        else:
            port = server.add_insecure_port(address)
        server.start()
        self._server = server
        return port

    def stop(self, grace_s: float) -> None:
        """Stop accepting; wait up to ``grace_s`` for in-flight exports to finish."""
        if self._server is not None:
            self._server.stop(grace_s).wait()

    def _handler(self, ingest: Ingest | LogsIngest) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            lambda body, context: self._export(ingest, body, context),
            request_deserializer=None,
            response_serializer=lambda reply: reply.SerializeToString(),
        )

    def _export(
        self, ingest: Ingest | LogsIngest, body: bytes, context: grpc.ServicerContext
    ) -> Message:
        try:
            return self._handle(ingest, body, context)
        except GlasslineError as exc:
            self._metrics.requests.labels("grpc", exc.grpc_code.name.lower()).inc()
            if isinstance(exc, RetryableError):
                delay = Duration()
                delay.FromNanoseconds(int(exc.retry_after_s * 1e9))
                info = RetryInfo(retry_delay=delay).SerializeToString()
                context.set_trailing_metadata((("google.rpc.retryinfo-bin", info),))
            context.abort(exc.grpc_code, exc.message)
        except Exception:  # a bug: answer retryable so the client keeps the data
            _log.exception("unexpected error in the gRPC receiver")
            self._metrics.requests.labels("grpc", "internal").inc()
            context.abort(grpc.StatusCode.UNAVAILABLE, "internal error; retry later")
        raise AssertionError("unreachable: context.abort raises")

    def _handle(
        self, ingest: Ingest | LogsIngest, body: bytes, context: grpc.ServicerContext
    ) -> Message:
        metadata: Any = context.invocation_metadata() or ()
        principal = self._keyring.authenticate(
            key_from_headers((m.key, m.value) for m in metadata if isinstance(m.value, str))
        )
        if len(body) > self._config.max_message_bytes:
            raise PermanentError(
                f"message of {len(body)} bytes exceeds the limit of "
                f"{self._config.max_message_bytes} bytes"
            )
        with self._admission.admit(len(body)):
            result = ingest.export("grpc", principal, body, "protobuf")
        response = ingest.reply(result)
        self._metrics.requests.labels("grpc", "ok").inc()
        return response


def _connection_age(age_s: float | None, grace_s: float) -> list[tuple[str, int]]:
    """Server options that end each connection after ``age_s`` (gRPC adds +-10% jitter).

    RPCs in flight at the GOAWAY get the shutdown grace to finish; the client opens a new
    connection for the next ones, which the kernel (or balancer) places afresh.
    """
    if age_s is None:
        return []
    return [
        ("grpc.max_connection_age_ms", int(age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(max(grace_s, 1.0) * 1000)),
    ]
