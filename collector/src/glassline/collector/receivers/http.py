"""OTLP/HTTP receiver and the collector's HTTP surface (Starlette, served by uvicorn).

``POST /v1/traces`` (also at ``/api/public/otel/v1/traces``, where Langfuse's exporter posts)
and ``POST /v1/logs`` take ``application/x-protobuf`` or ``application/json``, optionally
gzip-compressed, and answer in the request's encoding: an Export*ServiceResponse (with
``partialSuccess`` when spans or log records were rejected) or a ``google.rpc.Status`` carrying
the error message. Status codes: 400 bad request, 401 no/unknown key, 413 too large, 415 unsupported
type/encoding, 429 overloaded and 503 not stored (both with ``Retry-After``).
The same app serves ``/metrics``, ``/healthz``, ``/readyz`` and the query API under ``/api``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from google.protobuf.json_format import MessageToDict
from google.rpc.status_pb2 import Status
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from glassline.collector.admission import Admission
from glassline.collector.auth import Keyring, Principal, key_from_headers
from glassline.collector.config import ServerConfig
from glassline.collector.errors import AuthError, GlasslineError, PermanentError, RetryableError
from glassline.collector.handoff import Exports, Kind
from glassline.collector.metrics import Metrics
from glassline.collector.receivers._body import ClientGone, read_body, too_large
from glassline.collector.receivers._ingest import Encoding
from glassline.collector.receivers._timeouts import timed_protocol

__all__ = ["build_app", "uvicorn_config"]

_log = logging.getLogger(__name__)
_TYPES: dict[str, Encoding] = {"application/x-protobuf": "protobuf", "application/json": "json"}
# Langfuse's OTLP endpoint: its SDK posts here with Basic credentials (see auth.py).
LANGFUSE_TRACES_PATH = "/api/public/otel/v1/traces"


class _Http:
    """One OTLP/HTTP export endpoint (traces or logs): checks, admission, ingest, reply."""

    def __init__(
        self,
        config: ServerConfig,
        admission: Admission,
        exports: Exports,
        kind: Kind,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._admission = admission
        self._exports = exports
        self._kind: Kind = kind
        self._metrics = metrics

    async def handle(self, request: Request) -> Response:
        encoding = _TYPES.get(request.headers.get("content-type", "").split(";")[0].strip())
        try:
            if encoding is None:
                raise PermanentError(
                    "unsupported Content-Type: send application/x-protobuf or application/json",
                    http_status=415,
                )
            response = await self._export(request, encoding)
        except ClientGone:  # nobody is listening: an outcome to count, not an error to log
            _log.debug("client closed the connection mid-upload")
            self._metrics.requests.labels("http", "client_closed").inc()
            return Response(status_code=400)
        except GlasslineError as exc:
            self._metrics.requests.labels("http", str(exc.http_status)).inc()
            return _error(exc, encoding or "json")
        except Exception:  # a bug: answer retryable so the client keeps the data
            _log.exception("unexpected error in the HTTP receiver")
            self._metrics.requests.labels("http", "500").inc()
            return _error(RetryableError("internal error; retry later"), encoding or "json")
        self._metrics.requests.labels("http", "200").inc()
        return response

    async def _export(self, request: Request, encoding: Encoding) -> Response:
        principal: Principal = request.state.principal
        content_encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if content_encoding not in ("identity", "gzip", ""):
            raise PermanentError(
                f"unsupported Content-Encoding {content_encoding[:40]!r}: use gzip or none",
                http_status=415,
            )
        limit = self._config.max_message_bytes
        declared = _content_length(request)
        if declared > limit:
            raise too_large(declared, limit)
        with self._admission.admit(declared) as ticket:
            body = await read_body(request, ticket, limit=limit, gzip=content_encoding == "gzip")
            ticket.start()
            reply = await self._exports.run(
                self._kind, "http", principal, body, encoding, ticket.deadline
            )
        if encoding == "json":
            return JSONResponse(MessageToDict(reply))
        return Response(reply.SerializeToString(), media_type="application/x-protobuf")


class _Surface:
    """The collector's own endpoints: metrics, liveness, readiness."""

    def __init__(self, metrics: Metrics, ready: Callable[[], bool]) -> None:
        self._metrics = metrics
        self._ready = ready

    async def metrics(self, request: Request) -> Response:
        body, content_type = self._metrics.render()
        return Response(body, headers={"Content-Type": content_type})

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        if await run_in_threadpool(self._ready):
            return PlainTextResponse("ready\n")
        return PlainTextResponse("store unreachable\n", status_code=503)


class _AuthMiddleware:
    """Sets ``request.state.principal`` for ``/v1/*`` and ``/api/*``; 401 JSON otherwise."""

    def __init__(self, app: ASGIApp, keyring: Keyring) -> None:
        self._app = app
        self._keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/v1/", "/api/")):
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            try:
                principal = self._keyring.authenticate(key_from_headers(headers))
            except AuthError as exc:
                query_api = path.startswith("/api/") and path != LANGFUSE_TRACES_PATH
                response = _error(exc, "json" if query_api else _encoding(headers))
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self._app(scope, receive, send)


def build_app(
    config: ServerConfig,
    keyring: Keyring,
    admission: Admission,
    exports: Exports,
    metrics: Metrics,
    *,
    ready: Callable[[], bool] = lambda: True,
    api_routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The collector's ASGI app; ``api_routes`` are mounted as given (paths under /api/v1).

    ``/v1/logs`` is served when ``exports`` runs logs, through the same admission as traces.
    """
    traces = _Http(config, admission, exports, "traces", metrics)
    surface = _Surface(metrics, ready)
    routes: list[BaseRoute] = [
        Route("/v1/traces", traces.handle, methods=["POST"]),
        Route(LANGFUSE_TRACES_PATH, traces.handle, methods=["POST"]),
        Route("/metrics", surface.metrics, methods=["GET"]),
        Route("/healthz", surface.healthz, methods=["GET"]),
        Route("/readyz", surface.readyz, methods=["GET"]),
        *api_routes,
    ]
    if "logs" in exports.kinds:
        logs_http = _Http(config, admission, exports, "logs", metrics)
        routes.append(Route("/v1/logs", logs_http.handle, methods=["POST"]))
    return _AuthMiddleware(Starlette(routes=routes), keyring)


def uvicorn_config(app: ASGIApp, config: ServerConfig, **overrides: Any) -> uvicorn.Config:
    """How the collector serves ``app``: its TLS, read deadlines and shutdown grace."""
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=timed_protocol(
            header_timeout_s=config.http_header_timeout_s,
            body_timeout_s=config.http_body_timeout_s,
        ),
        timeout_graceful_shutdown=int(config.shutdown_grace_s) or None,
        ssl_certfile=str(config.tls.cert_file) if config.tls else None,
        ssl_keyfile=str(config.tls.key_file) if config.tls else None,
        **overrides,
    )


def _encoding(headers: list[tuple[str, str]]) -> Encoding:
    for name, value in headers:
        if name.lower() == "content-type":
            return _TYPES.get(value.split(";")[0].strip(), "json")
    return "json"


def _error(exc: GlasslineError, encoding: Encoding) -> Response:
    headers = {}
    if isinstance(exc, RetryableError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    status = Status(code=exc.grpc_code.value[0], message=exc.message)
    if encoding == "protobuf":
        return Response(
            status.SerializeToString(), exc.http_status, headers, "application/x-protobuf"
        )
    body = json.dumps({"code": status.code, "message": exc.message})
    return Response(body, exc.http_status, headers, "application/json")


def _content_length(request: Request) -> int:
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise PermanentError("Content-Length is not a number") from None
    if declared < 0:
        raise PermanentError("Content-Length is negative")
    return declared
