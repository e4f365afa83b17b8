"""``init()`` and ``shutdown()``: the only place where providers and exporters are wired.

Explicit arguments win over ``GLASSLINE_*`` variables, which win over ``OTEL_*`` ones (read
by the OTLP exporters themselves) and the defaults. If the application already set an SDK
TracerProvider, ``init`` adds Glassline's exporter to it instead of replacing it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.util.re import parse_env_headers

from glassline.instrumentation import _safe, _settings, clients
from glassline.instrumentation._processors import Switchboard, switchboard
from glassline.instrumentation._queue import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_SIZE,
    DEFAULT_QUEUE_SIZE,
    ExportStats,
    SpanQueue,
)
from glassline.pricing import ModelPrice

__all__ = ["API_KEY_HEADER", "Connection", "connection", "export_stats", "init", "shutdown"]

API_KEY_HEADER = "x-glassline-api-key"


@dataclass(frozen=True, slots=True)
class Connection:
    """Where spans go, as resolved by :func:`init` (also used by ``budget_status``)."""

    endpoint: str | None
    protocol: str
    api_key: str | None


_lock = threading.Lock()
_installed: tuple[Switchboard, SpanQueue] | None = None
_connection = Connection(None, "grpc", None)
_atexit_registered = False
_instrumented: list[str] = []  # client libraries init() instrumented (shutdown undoes it)


def connection() -> Connection:
    """The endpoint, protocol and API key :func:`init` resolved (empty before init)."""
    return _connection


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _env_rate() -> float:
    raw = _env("GLASSLINE_SAMPLE_RATE")
    try:
        return float(raw) if raw else 1.0
    except ValueError:
        raise ValueError(f"GLASSLINE_SAMPLE_RATE: expected a number, got {raw!r}") from None


def _env_headers() -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``: the exporters ignore them once we pass headers."""
    raw = _env("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or _env("OTEL_EXPORTER_OTLP_HEADERS")
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _protocol(given: str | None) -> str:
    raw = given or _env("GLASSLINE_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    raw = raw.lower()
    if raw in ("grpc",):
        return "grpc"
    if raw in ("http", "http/protobuf"):
        return "http"
    raise ValueError(f"init.protocol: expected 'grpc' or 'http', got {raw!r}")


def _prices(given: Mapping[str, ModelPrice | Mapping[str, float]] | None) -> dict[str, ModelPrice]:
    """Overrides from ``GLASSLINE_PRICES_FILE`` (JSON), then from the ``prices`` argument."""
    out: dict[str, ModelPrice] = {}
    path = _env("GLASSLINE_PRICES_FILE")
    raw: dict[str, Any] = {}
    if path:
        raw.update(_prices_file(path))
    raw.update(given or {})
    for model, value in raw.items():
        try:
            out[model] = value if isinstance(value, ModelPrice) else ModelPrice(**value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"init.prices[{model!r}]: {exc}") from exc
    return out


def _prices_file(path: str) -> dict[str, Any]:
    """The JSON object of ``GLASSLINE_PRICES_FILE``; a ValueError says why there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            loaded = json.load(f)
    except OSError as exc:
        raise ValueError(f"GLASSLINE_PRICES_FILE: cannot read {path} ({exc.strerror})") from None
    except ValueError as exc:  # not UTF-8, or not JSON
        raise ValueError(f"GLASSLINE_PRICES_FILE: {path} is not JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"GLASSLINE_PRICES_FILE: {path} must hold an object of model: prices")
    return loaded


def _exporter(
    protocol: str, endpoint: str | None, headers: dict[str, str], timeout: float
) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    if endpoint and urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HTTPSpanExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)


def init(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    api_key: str | None = None,
    protocol: str | None = None,
    sample_rate: float | None = None,
    capture_content: bool | None = None,
    redactor: Callable[[str], str] | None = None,
    headers: Mapping[str, str] | None = None,
    prices: Mapping[str, ModelPrice | Mapping[str, float]] | None = None,
    max_content_chars: int | None = None,
    export_timeout: float = 10.0,
    max_queue_size: int = DEFAULT_QUEUE_SIZE,
    export_batch_size: int = DEFAULT_BATCH_SIZE,
    export_batch_bytes: int = DEFAULT_BATCH_BYTES,
    instrument: Sequence[str] | None = None,
) -> None:
    """Send spans to a Glassline collector (or any OTLP endpoint) over gRPC or HTTP.

    Spans are exported in batches of ``export_batch_size`` spans and about
    ``export_batch_bytes`` (under the endpoint's request limit) from a queue of
    ``max_queue_size``;
    a span lost on the way (queue full, export failed) is counted (:func:`export_stats`),
    logged and reported to the collector. ``instrument``: the client libraries whose every call is recorded (``"openai"``,
    ``"anthropic"``, ``"litellm"``); None: each of them the app has imported; ``[]``: none.
    Raises ValueError for invalid arguments (a programming error, at startup); once set up,
    nothing the SDK does at run time raises into the application.
    """
    global _installed, _connection, _atexit_registered, _instrumented
    libraries = _libraries(instrument)
    proto = _protocol(protocol)
    rate = sample_rate if sample_rate is not None else _env_rate()
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"init.sample_rate: must be within [0, 1], got {rate!r}")
    key = api_key or _env("GLASSLINE_API_KEY")
    url = endpoint or _env("GLASSLINE_ENDPOINT")
    all_headers = _env_headers() | dict(headers or {})
    if key:
        all_headers[API_KEY_HEADER] = key
    _settings.replace(_call_settings(capture_content, redactor, max_content_chars, prices))
    provider = _provider(service_name, rate)
    if max_queue_size < 1 or export_batch_size < 1 or export_batch_bytes < 1:
        raise ValueError(
            "init.max_queue_size, init.export_batch_size and init.export_batch_bytes: must be >= 1"
        )
    processor = SpanQueue(
        _exporter(proto, url, all_headers, export_timeout),
        resource=provider.resource,
        max_queue_size=max_queue_size,
        batch_size=export_batch_size,
        batch_bytes=export_batch_bytes,
    )
    with _lock:
        _uninstall()
        board = switchboard(provider)
        assert board is not None
        board.add(processor)
        _installed = (board, processor)
        _connection = Connection(url or _env("OTEL_EXPORTER_OTLP_ENDPOINT"), proto, key)
        _instrumented = clients.instrument(libraries)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True


def _libraries(given: Sequence[str] | None) -> list[str]:
    if given is None:  # importing a client the app does not use would cost seconds
        return [name for name in clients.LIBRARIES if name in sys.modules]
    if isinstance(given, str):
        given = [given]
    unknown = [name for name in given if name not in clients.LIBRARIES]
    if unknown:
        known = ", ".join(clients.LIBRARIES)
        raise ValueError(f"init.instrument: unknown library {unknown[0]!r} (known: {known})")
    return list(given)


def _call_settings(
    capture_content: bool | None,
    redactor: Callable[[str], str] | None,
    max_content_chars: int | None,
    prices: Mapping[str, ModelPrice | Mapping[str, float]] | None,
) -> _settings.Settings:
    """The decorators' settings: arguments over ``GLASSLINE_*`` over defaults."""
    base = _settings.Settings.from_env(strict=True)
    if max_content_chars is not None and max_content_chars < 0:
        raise ValueError(f"init.max_content_chars: must be >= 0, got {max_content_chars!r}")
    return _settings.Settings(
        capture_content=base.capture_content if capture_content is None else capture_content,
        redactor=redactor,
        max_content_chars=base.max_content_chars
        if max_content_chars is None
        else max_content_chars,
        prices=_prices(prices),
    )


def _provider(service_name: str | None, rate: float) -> TracerProvider:
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        if rate < 1.0:
            _safe.report("init: sample_rate ignored, the application's provider keeps its sampler")
        return existing
    attributes = {"service.name": service_name} if service_name else {}
    provider = TracerProvider(
        resource=Resource.create(attributes),  # merges OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES
        sampler=ParentBased(TraceIdRatioBased(rate)),
    )
    trace.set_tracer_provider(provider)
    return provider


def _uninstall() -> None:
    global _installed, _instrumented
    clients.uninstrument(_instrumented)
    _instrumented = []
    if _installed is None:
        return
    board, processor = _installed
    _installed = None
    board.remove(processor)
    try:
        processor.shutdown()  # flushes what is queued
    except Exception as exc:
        _safe.report("shutdown", exc)


def export_stats() -> ExportStats | None:
    """Spans ended, exported, dropped and queued since :func:`init` (None before ``init``)."""
    installed = _installed
    return installed[1].stats() if installed is not None else None


def shutdown() -> None:
    """Flush queued spans and stop the exporter ``init`` installed (also run at exit)."""
    with _lock:
        _uninstall()
