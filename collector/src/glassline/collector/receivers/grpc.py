"""OTLP/gRPC receiver: ``TraceService/Export`` and ``LogsService/Export`` (GenAI events).

Requests arrive as raw bytes (no deserializer) so the decoder can reject single spans instead
of the whole message. Answers: OK with ``partial_success`` when some spans were rejected;
UNAUTHENTICATED, INVALID_ARGUMENT, RESOURCE_EXHAUSTED / UNAVAILABLE with RetryInfo (see
:func:`_details`) that exporters honour as their retry delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as Any_
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status

from glassline.collector._aio import run_on_loop
from glassline.collector.admission import Admission, Ticket
from glassline.collector.auth import Keyring, key_from_headers
from glassline.collector.config import ServerConfig
from glassline.collector.errors import GlasslineError, ListenError, PermanentError, RetryableError
from glassline.collector.handoff import Exports, Kind
from glassline.collector.metrics import Metrics
from glassline.collector.receivers._body import GZIP_MAGIC, gunzip, inflate, is_zlib

__all__ = ["GrpcReceiver", "max_unseen_calls"]

_log = logging.getLogger(__name__)
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
# grpc keeps the calls that arrived before its server loop asked for the next one in a backlog.
# By default it cancels new calls at random once 1,000 wait there, every one at 3,000: CANCELLED,
# with no RetryInfo, before admission sees them (2,000 concurrent exports on one channel got
# 36-110). Cancelled only past 3,000 now, as by grpc's hard limit already: an untaken call holds
# its message unread (what HTTP/2 flow control lets in, unbounded by admission's bytes), and
# 5,000 untaken 115 KB calls took 1.3 GB.
_BACKLOG = 3000
_BACKLOG_OPTIONS = [
    ("grpc.server.max_pending_requests", _BACKLOG),
    ("grpc.server.max_pending_requests_hard_limit", _BACKLOG),
]


class _AnswerNotSent(logging.Filter):
    """grpc logs an answer it could not send as an ERROR with its traceback ("ExecuteBatchError
    raised in core by servicer method"), unless it has already seen the client leave: a client
    that gave the answer no flow-control window and then closed got two a call. The client
    left; the server did nothing wrong, so it is a debug line, as ``_export``'s own."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if type(exc).__name__ != "ExecuteBatchError":  # grpc's private class: not imported
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.msg, record.args = f"the client left before its answer: {record.getMessage()}", ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return True


_ANSWER_NOT_SENT = _AnswerNotSent()


class GrpcReceiver:
    """A grpc.aio server with the TraceService (and the LogsService when ``exports`` runs
    logs); :meth:`start` binds and returns the port. Both go through the same admission.

    Handlers run on one event loop (see :mod:`glassline.collector._aio`), so admission
    answers each RPC the moment it arrives: a refusal never waits for a thread. Admitted
    exports are decoded and stored by ``exports`` (this worker's threads or a peer's).
    """

    def __init__(
        self,
        config: ServerConfig,
        keyring: Keyring,
        admission: Admission,
        exports: Exports,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._keyring = keyring
        self._admission = admission
        self._exports = exports
        self._metrics = metrics
        self._server: grpc.aio.Server | None = None

    def start(self) -> int:
        return run_on_loop(self._start())

    async def _start(self) -> int:
        cfg = self._config
        logging.getLogger("grpc._cython.cygrpc").addFilter(_ANSWER_NOT_SENT)  # once: same one
        server = grpc.aio.server(
            options=[
                # gRPC refuses a larger message itself, as soon as its length prefix is in:
                # RESOURCE_EXHAUSTED "Received message larger than max (N vs. limit)", without
                # RetryInfo, so exporters do not resend it. It holds what has come of a
                # message up to this, unseen by admission (see max_unseen_calls).
                ("grpc.max_receive_message_length", cfg.max_message_bytes),
                # Compressed messages come up as they came, and are inflated here (_inflated).
                ("grpc.per_message_decompression", 0),
                ("grpc.so_reuseport", 0),  # one process serves the port (see server.py)
                *_BACKLOG_OPTIONS,
                *_connection_age(cfg.grpc_max_connection_age_s, cfg.shutdown_grace_s),
            ],
            # No maximum_concurrent_rpcs: gRPC's own refusal carries no RetryInfo, and a
            # spec-following exporter drops a batch refused without it. Admission bounds the work.
        )
        services: dict[Kind, str] = {"traces": SERVICE, "logs": LOGS_SERVICE}
        server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(name, {"Export": self._handler(kind)})
                for kind, name in services.items()
                if kind in self._exports.kinds
            )
        )
        address = f"{cfg.host}:{cfg.grpc_port}"
        try:
            if cfg.tls is not None:
                creds = grpc.ssl_server_credentials(
                    [(cfg.tls.key_file.read_bytes(), cfg.tls.cert_file.read_bytes())]
                )
                port: int = server.add_secure_port(address, creds)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:  # "Failed to bind": gRPC's reason only reaches its own stderr
            reason = _bind_problem(cfg.host, cfg.grpc_port) or "gRPC could not bind it" + (
                " (check server.tls)" if cfg.tls is not None else ""
            )
            raise ListenError("grpc_port", cfg.host, cfg.grpc_port, reason) from None
        await server.start()
        self._server = server
        return port

    def stop(self, grace_s: float) -> None:
        """Stop accepting; wait up to ``grace_s`` for in-flight exports to finish."""
        if self._server is not None:
            run_on_loop(self._server.stop(grace_s))

    def _handler(self, kind: Kind) -> grpc.RpcMethodHandler[bytes, Message]:
        async def export(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, Message]
        ) -> Message:
            return await self._export(kind, context)

        # Served as client-streaming, the same on the wire as a unary call: the handler runs
        # once the call's metadata is in, before its message is read, so a refused export's
        # body is never copied out of gRPC (under overload nine requests in ten are refused).
        return grpc.stream_unary_rpc_method_handler(
            export,
            request_deserializer=None,
            response_serializer=lambda reply: reply.SerializeToString(),
        )

    async def _export(
        self, kind: Kind, context: grpc.aio.ServicerContext[bytes, Message]
    ) -> Message:
        try:
            return await self._handle(kind, context)
        except GlasslineError as exc:
            error = exc.answer_only()  # kept in this frame: see answer_only
        except Exception:  # a bug: answer retryable so the client keeps the data
            _log.exception("unexpected error in the gRPC receiver")
            error = RetryableError("internal error; retry later")
        self._metrics.requests.labels("grpc", error.grpc_code.name.lower()).inc()
        try:
            await context.abort(error.grpc_code, error.message, trailing_metadata=_details(error))
        except grpc.aio.AbortError:
            raise
        except Exception:
            # grpc ended the call itself, and answered it (a message flagged compressed that
            # does not inflate is its INTERNAL: see docs/collector.md), so the handler saw no
            # message and has no call left to answer. grpc logs any error but this one with
            # its traceback, as a server fault.
            _log.debug("the call ended before its answer", exc_info=True)
            raise asyncio.CancelledError from None
        raise AssertionError("unreachable: context.abort raises")

    async def _handle(
        self, kind: Kind, context: grpc.aio.ServicerContext[bytes, Message]
    ) -> Message:
        metadata: Any = context.invocation_metadata() or ()
        principal = self._keyring.authenticate(
            key_from_headers((m.key, m.value) for m in metadata if isinstance(m.value, str))
        )
        # Its bytes are reserved once read; until then grpc holds them (unseen).
        with self._admission.admit(unseen=True) as ticket:
            # The message's deadline, which a newer export may bring forward (_expire_now).
            deadline = asyncio.timeout(self._config.http_body_timeout_s)
            loop = asyncio.get_running_loop()
            ticket.give_way_with(
                functools.partial(loop.call_soon_threadsafe, _expire_now, deadline)
            )
            try:
                body = await self._one_message(context, deadline)
            except TimeoutError:
                raise ticket.gave_way_error() if ticket.gave_way else self._late() from None
            ticket.reserve(len(body))
            body = _inflated(body, ticket, self._config.max_message_bytes)
            ticket.start()
            response = await self._exports.run(
                kind, "grpc", principal, body, "protobuf", ticket.deadline
            )
        self._metrics.requests.labels("grpc", "ok").inc()
        return response

    async def _one_message(
        self, context: grpc.aio.ServicerContext[bytes, Message], deadline: asyncio.Timeout
    ) -> bytes:
        """The call's one export request, which must arrive whole by ``deadline`` (else
        TimeoutError).

        A call that never sends its message would hold its admission ticket until its
        connection ages out, as a stalled HTTP body would without its deadline; a second
        message would be acknowledged and never stored.
        """
        async with deadline:
            body = await context.read()
            # types-grpcio types ServicerContext.read() without the EOF it returns.
            if body is grpc.aio.EOF:  # type: ignore[comparison-overlap]
                raise PermanentError("the call carried no message: send one export request")
            if await context.read() is not grpc.aio.EOF:  # type: ignore[comparison-overlap]
                raise PermanentError(
                    "the call carried more than one message: send one export request per call"
                )
        return body

    def _late(self) -> RetryableError:
        timeout_s = self._config.http_body_timeout_s
        return RetryableError(
            f"the export's message did not arrive whole within {timeout_s:g} s; retry",
            retry_after_s=self._config.retry_after_s,
        )


def max_unseen_calls(config: ServerConfig) -> int | None:
    """How many calls may be receiving their message at once in one process (None: any).

    grpc keeps what has come of a message until it is whole, up to ``max_message_bytes``,
    where admission cannot count it: so many fill ``max_inflight_bytes``. 32 calls that each
    sent all but the last byte of a 15 MB message held +489 MB (+261 MB at 8 MB). A call
    that sends nothing takes a place as well (it cannot be told apart), and gives it way
    after a body rate window when they are all taken; without a least body rate nothing
    ends a stalled sender before the body timeout, and the calls are not bounded either.
    """
    if not config.http_body_min_rate_bytes_s:
        return None
    return max(1, config.max_inflight_bytes // config.max_message_bytes)


def _inflated(body: bytes, ticket: Ticket, limit: int) -> bytes:
    """The export request a message carries, inflated if it came compressed.

    grpc inflated them itself, and answered one that inflates past the limit with
    "Decompressed message larger than max", naming neither; it is inflated here, each
    byte reserved under admission, at most ``limit`` (the HTTP receiver's bounds and
    errors). The call's ``grpc-encoding`` is not among its metadata, so the bytes tell:
    a gzip or zlib header, which no OTLP request begins with (``0x0a``, its first field).
    """
    if body[:2] == GZIP_MAGIC:
        return gunzip(body, ticket, limit=limit)
    if is_zlib(body):
        return inflate(body, ticket, limit=limit)
    return body


def _expire_now(deadline: asyncio.Timeout) -> None:
    """End a call's wait for its message now: its receiving place went to a newer export
    (:meth:`Ticket.give_way_with`; it may have got its message meanwhile)."""
    if not deadline.expired():
        with contextlib.suppress(RuntimeError):  # its wait is over already
            deadline.reschedule(-1)


def _details(error: GlasslineError) -> tuple[tuple[str, bytes], ...]:
    """The retry hint of a retryable error, in both places exporters look for it.

    ``grpc-status-details-bin`` holds a ``google.rpc.Status`` whose details carry RetryInfo
    (the OTLP spec, the Go collector's exporters); ``google.rpc.retryinfo-bin`` holds the bare
    RetryInfo (the Python exporter).
    """
    if not isinstance(error, RetryableError):
        return ()
    return _retry_details(error.grpc_code.value[0], error.message, error.retry_after_s)


@functools.lru_cache(maxsize=64)
def _retry_details(code: int, message: str, retry_after_s: float) -> tuple[tuple[str, bytes], ...]:
    """:func:`_details` of a retryable error, built once per message: under overload every
    refusal carries one of a handful (4 us each to build, 0.3 us from here)."""
    delay = Duration()
    delay.FromNanoseconds(int(retry_after_s * 1e9))
    info = RetryInfo(retry_delay=delay)
    detail = Any_()
    detail.Pack(info)
    status = Status(code=code, message=message, details=[detail])
    return (
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


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


def _bind_problem(host: str, port: int) -> str | None:
    """Why the operating system will not bind ``host:port``, or None if it would now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"no such host ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror
    return None
