"""OTLP/HTTP receiver and the collector's HTTP surface (Starlette, served by uvicorn).

``POST /v1/traces`` (also at ``/api/public/otel/v1/traces``, where Langfuse's exporter posts)
and ``POST /v1/logs`` take ``application/x-protobuf`` or ``application/json``, optionally
gzip- or deflate-compressed, and answer in the request's encoding: an Export*ServiceResponse (with
``partialSuccess`` when spans or log records were rejected) or a ``google.rpc.Status`` carrying
the error message. Status codes: 400 bad request, 401 no/unknown key, 413 too large, 415 unsupported
type/encoding, 429 overloaded and 503 not stored (both with ``Retry-After``).
The same app serves ``/metrics``, ``/healthz``, ``/readyz`` and the query API under ``/api``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from glassline.collector.admission import Admission
from glassline.collector.auth import Keyring, Principal, key_from_headers
from glassline.collector.config import ServerConfig
from glassline.collector.errors import AuthError, GlasslineError, PermanentError, RetryableError
from glassline.collector.handoff import Exports, Kind
from glassline.collector.metrics import Metrics
from glassline.collector.receivers._answers import (
    Answer,
    answer_headers,
    error_parts,
    error_response,
    send_answer,
    send_error,
)
from glassline.collector.receivers._body import ClientGone, read_body, too_large
from glassline.collector.receivers._ingest import Encoding
from glassline.collector.receivers._queries import QueryAsStored, QuerySlots
from glassline.collector.receivers._timeouts import timed_protocol

__all__ = ["build_app", "uvicorn_config"]

_log = logging.getLogger(__name__)
_TYPES: dict[str, Encoding] = {"application/x-protobuf": "protobuf", "application/json": "json"}
# Content-Encoding -> the body's compression. deflate: the OpenTelemetry Python exporter's
# Compression.Deflate (OTEL_EXPORTER_OTLP_COMPRESSION=deflate); refused 415, it lost every span.
_CODINGS = {"identity": "", "": "", "gzip": "gzip", "deflate": "deflate"}
# Langfuse's OTLP endpoint: its SDK posts here with Basic credentials (see auth.py).
LANGFUSE_TRACES_PATH = "/api/public/otel/v1/traces"
# Set in a request's scope once its headers passed admission's test on arrival (refusals).
_DRAWN = "glassline.admission_drawn"


class _Http:
    """One OTLP/HTTP export endpoint (traces or logs): checks, admission, ingest, reply.

    A raw ASGI app, dispatched before Starlette's router; its overload refusals are answered
    before it, from the request's headers (:meth:`refusal`).
    """

    def __init__(
        self,
        config: ServerConfig,
        keyring: Keyring,
        admission: Admission,
        exports: Exports,
        kind: Kind,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._keyring = keyring
        self._admission = admission
        self._exports = exports
        self._kind: Kind = kind
        self._metrics = metrics

    def refusal(self, scope: Scope) -> Answer | None:
        """The 429 of an export admission refuses on arrival, or None: the request goes on to
        this app (admitted, or an answer of the app's own: 400, 401, 413, 415).

        Called by the HTTP protocol once the headers are in (``answer_on_headers`` of
        :func:`uvicorn_config`), so that under overload, where nine requests in ten are
        refused, a refusal costs no ASGI task, middleware or ``send`` messages, and leaves in
        the event loop's turn that read its headers.
        """
        raw = scope["headers"]
        headers = _Headers(raw)
        try:
            principal = self._keyring.authenticate(
                key_from_headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)
            )
            encoding, _, declared = self._framing(headers)
        except GlasslineError:
            return None
        error = self._admission.refuse_on_arrival(declared)
        if error is None:
            scope[_DRAWN] = True
            # Authenticated once: the middleware takes it from here instead of again.
            scope.setdefault("state", {})["principal"] = principal
            return None
        self._metrics.requests.labels("http", str(error.http_status)).inc()
        body, content_type, retry_after = error_parts(error, encoding)
        return error.http_status, answer_headers(body, content_type, retry_after), body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _Headers(scope["headers"])
        encoding = _media_type(headers.get("content-type"))
        try:
            status, body, content_type = await self._export(scope, receive, headers)
        except ClientGone:  # nobody is listening: an outcome to count, not an error to log
            _log.debug("client closed the connection mid-upload")
            self._metrics.requests.labels("http", "client_closed").inc()
            await send_answer(send, 400, b"", None)
            return
        except GlasslineError as exc:
            self._metrics.requests.labels("http", str(exc.http_status)).inc()
            await send_error(send, exc, encoding or "json")
            return
        except Exception:  # a bug: answer retryable so the client keeps the data
            _log.exception("unexpected error in the HTTP receiver")
            self._metrics.requests.labels("http", "500").inc()
            await send_error(
                send, RetryableError("internal error; retry later"), encoding or "json"
            )
            return
        self._metrics.requests.labels("http", "200").inc()
        await send_answer(send, status, body, content_type)

    def _framing(self, headers: _Headers) -> tuple[Encoding, str, int]:
        """The body's encoding, its compression (``gzip``, ``deflate`` or ``""``) and its
        declared length (0: none);
        raises PermanentError (415, 413, 400) for a request this endpoint cannot take."""
        encoding = _media_type(headers.get("content-type"))
        if encoding is None:
            raise PermanentError(
                "unsupported Content-Type: send application/x-protobuf or application/json",
                http_status=415,
            )
        content_encoding = (headers.get("content-encoding") or "identity").strip().lower()
        if content_encoding not in _CODINGS:
            raise PermanentError(
                f"unsupported Content-Encoding {content_encoding[:40]!r}: use gzip, deflate "
                "or none",
                http_status=415,
            )
        declared = _content_length(headers.get("content-length"))
        if declared > self._config.max_message_bytes:
            raise too_large(declared, self._config.max_message_bytes)
        return encoding, _CODINGS[content_encoding], declared

    async def _export(
        self, scope: Scope, receive: Receive, headers: _Headers
    ) -> tuple[int, bytes, bytes]:
        principal: Principal = scope["state"]["principal"]
        encoding, coding, declared = self._framing(headers)
        limit = self._config.max_message_bytes
        # The declared length must fit now (refused unread if not), held as it arrives.
        admit = self._admission.admit(declared=declared, drawn=scope.pop(_DRAWN, False))
        with admit as ticket:
            body = await read_body(receive, ticket, limit=limit, coding=coding)
            ticket.start()
            reply = await self._exports.run(
                self._kind, "http", principal, body, encoding, ticket.deadline
            )
        if encoding == "json":
            text = json.dumps(
                MessageToDict(reply), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )  # as Starlette's JSONResponse renders it
            return 200, text.encode(), b"application/json"
        return 200, reply.SerializeToString(), b"application/x-protobuf"


class _Headers:
    """The request headers an export endpoint reads, looked up without building a dict."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str) -> str:
        """The first value of header ``name`` (lower case), or ""."""
        key = name.encode("latin-1")
        for k, v in self._raw:
            if k.lower() == key:
                return v.decode("latin-1")
        return ""


class _ExportRouter:
    """Sends ``POST`` to an export path straight to its :class:`_Http`, the rest to ``app``.

    The export paths stay routed in ``app`` too, so another method still gets Starlette's 405.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, _Http]) -> None:
        self._app = app
        self._endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._endpoints.get(_export_path(scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def refusal(self, scope: Scope) -> Answer | None:
        """:meth:`_Http.refusal` of the export endpoint ``scope`` posts to, if any."""
        if scope["method"] == "POST":
            endpoint = self._endpoints.get(_export_path(scope["path"]))
            if endpoint is not None:
                return endpoint.refusal(scope)
        return None


def _export_path(path: str) -> str:
    """``path`` without one trailing slash: ``/v1/traces/`` is served as ``/v1/traces``.

    Starlette answered it with a 307 to the path without the slash, and the stock OTLP/HTTP
    exporter, which follows no redirect, counts any 2xx or 3xx as delivered: an endpoint
    configured with a trailing slash lost every span and reported success.
    """
    return path[:-1] if path.endswith("/") and len(path) > 1 else path


class _Surface:
    """The collector's own endpoints: metrics, liveness, readiness."""

    def __init__(self, metrics: Metrics, not_ready: Callable[[], str | None]) -> None:
        self._metrics = metrics
        self._not_ready = not_ready

    async def metrics(self, request: Request) -> Response:
        body, content_type = self._metrics.render()
        return Response(body, headers={"Content-Type": content_type})

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        reason = await run_in_threadpool(self._not_ready)
        if reason is None:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(f"not ready: {reason}\n", status_code=503)


class _AuthMiddleware:
    """Sets ``request.state.principal`` for ``/v1/*`` and ``/api/*``; 401 JSON otherwise.

    The collector's app: :attr:`refusal` answers overload refusals before it (see
    :func:`uvicorn_config`).
    """

    def __init__(self, app: _ExportRouter, keyring: Keyring) -> None:
        self._app = app
        self._keyring = keyring
        self.refusal = app.refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/v1/", "/api/")):
            state = scope.setdefault("state", {})
            if "principal" not in state:  # an export that passed :attr:`refusal` carries it
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
                try:
                    state["principal"] = self._keyring.authenticate(key_from_headers(headers))
                except AuthError as exc:
                    query_api = (
                        path.startswith("/api/") and _export_path(path) != LANGFUSE_TRACES_PATH
                    )
                    response = error_response(exc, "json" if query_api else _encoding(headers))
                    await response(scope, receive, send)
                    return
        await self._app(scope, receive, send)


def build_app(
    config: ServerConfig,
    keyring: Keyring,
    admission: Admission,
    exports: Exports,
    metrics: Metrics,
    *,
    not_ready: Callable[[], str | None] = lambda: None,
    api_routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The collector's ASGI app; ``api_routes`` are mounted as given (paths under /api/v1).

    ``/v1/logs`` is served when ``exports`` runs logs, through the same admission as traces.
    """
    traces = _Http(config, keyring, admission, exports, "traces", metrics)
    endpoints = {"/v1/traces": traces, LANGFUSE_TRACES_PATH: traces}
    if "logs" in exports.kinds:
        endpoints["/v1/logs"] = _Http(config, keyring, admission, exports, "logs", metrics)
    surface = _Surface(metrics, not_ready)
    routes: list[BaseRoute] = [
        *(Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()),
        Route("/metrics", surface.metrics, methods=["GET"]),
        Route("/healthz", surface.healthz, methods=["GET"]),
        Route("/readyz", surface.readyz, methods=["GET"]),
        *api_routes,
    ]
    starlette = Starlette(routes=routes)
    # No redirects: an exporter takes a 3xx for success (see _export_path); a wrong path is 404.
    starlette.router.redirect_slashes = False
    app: ASGIApp = QueryAsStored(starlette)
    app = QuerySlots(app, config, metrics)
    return _AuthMiddleware(_ExportRouter(app, endpoints), keyring)


def uvicorn_config(app: ASGIApp, config: ServerConfig, **overrides: Any) -> uvicorn.Config:
    """How the collector serves ``app``: its TLS, read deadlines and shutdown grace; for the
    app of :func:`build_app`, its overload refusals answered from the request's headers."""
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        http=timed_protocol(
            header_timeout_s=config.http_header_timeout_s,
            body_timeout_s=config.http_body_timeout_s,
            body_min_rate=config.http_body_min_rate_bytes_s,
            rate_window_s=config.http_body_rate_window_s,
            answer_on_headers=app.refusal if isinstance(app, _AuthMiddleware) else None,
        ),
        timeout_graceful_shutdown=int(config.shutdown_grace_s) or None,
        ssl_certfile=str(config.tls.cert_file) if config.tls else None,
        ssl_keyfile=str(config.tls.key_file) if config.tls else None,
        **overrides,
    )


def _media_type(content_type: str) -> Encoding | None:
    """The encoding a Content-Type names, parameters ignored; a media type is case-insensitive
    (RFC 9110, 8.3.1): ``Application/JSON`` was refused 415."""
    return _TYPES.get(content_type.split(";")[0].strip().lower())


def _encoding(headers: list[tuple[str, str]]) -> Encoding:
    for name, value in headers:
        if name.lower() == "content-type":
            return _media_type(value) or "json"
    return "json"


def _content_length(value: str) -> int:
    try:
        declared = int(value or 0)
    except ValueError:
        raise PermanentError("Content-Length is not a number") from None
    if declared < 0:
        raise PermanentError("Content-Length is negative")
    return declared
