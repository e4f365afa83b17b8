"""OTLP ExportTraceServiceRequest (protobuf or OTLP/JSON) -> ``list[SpanRecord]``.

Validation is per span: a bad span is rejected, counted with a reason, and the rest of the
request is kept (reported back as OTLP ``partial_success``). Only a request that cannot be
read at all raises, and then only :class:`PermanentError`.

The protobuf runtime rejects a whole message when any string in it is not UTF-8, so when the
fast whole-message parse fails we walk the wire format ourselves down to each span
(:mod:`glassline.collector._wire`) and parse spans one by one. OTLP/JSON follows the spec:
hex trace/span ids, 64-bit integers as strings or numbers, enums as numbers or names,
lowerCamelCase (or original) field names, unknown fields ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from google.protobuf.json_format import ParseDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from glassline.collector import _anyvalue
from glassline.collector._wire import WireError, count_items, length_delimited_fields, schema_of
from glassline.collector.errors import PermanentError
from glassline.collector.objects import MAX_OBJECTS, WireObjects, check_json_objects
from glassline.collector.otlp_json import json_list, json_objects
from glassline.collector.records import MAX_NS, SpanEvent, SpanRecord, latest_ns
from glassline.semconv import attributes as attrs

__all__ = [
    "DecodeResult",
    "decode_json",
    "decode_protobuf",
    "decode_protobuf_slices",
    "decode_request",
]

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUSES = ("unset", "ok", "error")
_NAME_LEN = 512
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
# Cheap first test: only a body with a surrogate escape can hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_OBJECTS = WireObjects(schema_of(ExportTraceServiceRequest.DESCRIPTOR))


@dataclass(slots=True)
class DecodeResult:
    """Spans accepted for processing, and what was rejected and why."""

    records: list[SpanRecord] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None
    unit: ClassVar[str] = "span"  # what a rejected item is, in the partial-success message

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    def reject(self, reason: str, detail: str, count: int = 1) -> None:
        self.rejected[reason] += count
        if self.first_error is None:
            # A detail may quote the bad input: keep it encodable whatever it holds.
            self.first_error = detail.encode("utf-8", "backslashreplace").decode("utf-8")

    def add_rejections(self, other: DecodeResult) -> None:
        """Count ``other``'s rejections here too (its first error, if this has none yet)."""
        self.rejected.update(other.rejected)
        if self.first_error is None:
            self.first_error = other.first_error

    def partial_message(self) -> str:
        """The OTLP ``partial_success.error_message``: counts by reason and the first error."""
        if not self.rejected:
            return ""
        # Counted 0: an item that held no span (a resourceSpans entry that is no object).
        counts = ", ".join(f"{n} {why}" if n else why for why, n in sorted(self.rejected.items()))
        return (
            f"rejected {self.rejected_count} {self.unit}(s) ({counts}); first: {self.first_error}"
        )


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- protobuf --------------------------------------------------------------------------------


def decode_protobuf(
    body: bytes, tenant: str, *, max_spans: int, max_objects: int = MAX_OBJECTS
) -> DecodeResult:
    """Decode a binary ExportTraceServiceRequest for ``tenant``."""
    check_wire_count(body, max_spans)
    _OBJECTS.check(body, max_objects)
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError):
        return next(_span_by_span(body, tenant, max_spans, slice_bytes=len(body)))
    return decode_request(request, tenant, max_spans=max_spans)


def decode_protobuf_slices(
    body: bytes, tenant: str, *, max_spans: int, slice_bytes: int, max_objects: int = MAX_OBJECTS
) -> Iterator[DecodeResult]:
    """Decode a binary ExportTraceServiceRequest a slice at a time: each slice's spans hold
    at most ``slice_bytes`` of the body (or are one span); each rejection is reported by the
    slice that met it. The request is refused (PermanentError) before the first slice, as by
    :func:`decode_protobuf`.

    For a large request: its spans are parsed from the body as their slice comes, so beyond
    the body only one slice is held at a time. A whole parse holds the parsed request (1.5x
    the body's bytes) and the records (2.3x) until the last span is stored: an 8 MB export
    took ~60 MB of its runner while it was processed, which admission's bytes do not count.
    """
    check_wire_count(body, max_spans)
    _OBJECTS.check(body, max_objects)
    return _span_by_span(body, tenant, max_spans, slice_bytes)


def decode_request(
    request: ExportTraceServiceRequest, tenant: str, *, max_spans: int
) -> DecodeResult:
    """Convert an already parsed request."""
    total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    check_count(total, max_spans)
    result = DecodeResult()
    for rs in request.resource_spans:
        resource = _anyvalue.attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            _convert_spans(ss.spans, tenant, resource, ss.scope.name or None, result)
    return result


def check_count(total: int, limit: int, unit: str = "spans") -> None:
    """Refuse (413) a request of more than ``limit`` spans or log records."""
    if total > limit:
        raise PermanentError(
            f"request has {total} {unit}; the limit is {limit} per request "
            "(lower the exporter's batch size)",
            http_status=413,
        )


def check_wire_count(body: bytes, limit: int, unit: str = "spans") -> None:
    """Refuse (413) a binary request of more than ``limit`` spans or log records, or of more
    resource and scope groups than they could need, before it is parsed: the parse costs
    memory per message, however small (see :func:`~glassline.collector._wire.count_items`)."""
    try:
        items, groups = count_items(body, (1, 2, 2), limit)
    except WireError as exc:
        raise PermanentError(f"malformed protobuf: {exc}") from None
    if items > limit:
        raise PermanentError(
            f"request has more than {limit} {unit}; the limit is {limit} per request "
            "(lower the exporter's batch size)",
            http_status=413,
        )
    if groups > 2 * limit:
        raise PermanentError(
            f"request has more than {2 * limit} resource and scope groups: "
            f"at most one of each per {unit[:-1]} ({limit} {unit})",
            http_status=413,
        )


def _convert_spans(
    spans: Iterable[Span],
    tenant: str,
    resource: dict[str, Any],
    scope: str | None,
    result: DecodeResult,
) -> None:
    service = resource.get(attrs.SERVICE_NAME)
    service = str(service)[:256] if service is not None else None
    latest = latest_ns()
    for span in spans:
        try:
            result.records.append(_convert_span(span, tenant, resource, service, scope, latest))
        except _Reject as rej:
            result.reject(rej.reason, rej.detail)
        except RecursionError:
            result.reject("malformed_span", "span nested too deeply")


def _convert_span(
    span: Span,
    tenant: str,
    resource: dict[str, Any],
    service: str | None,
    scope: str | None,
    latest: int,
) -> SpanRecord:
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        raise _Reject("invalid_trace_id", f"span {span.name[:64]!r}: trace_id must be 16 bytes")
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        raise _Reject("invalid_span_id", f"span {span.name[:64]!r}: span_id must be 8 bytes")
    if len(parent) not in (0, 8):
        raise _Reject(
            "invalid_parent_span_id", f"span {span.name[:64]!r}: parent_span_id must be 8 bytes"
        )
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start == 0 or end == 0 or start > MAX_NS or end > MAX_NS:
        raise _Reject("invalid_timestamp", f"span {span.name[:64]!r}: start/end time missing")
    if start > latest:
        raise _Reject(
            "future_timestamp",
            f"span {span.name[:64]!r}: starts over a day after the collector's clock",
        )
    if end < start:
        raise _Reject("end_before_start", f"span {span.name[:64]!r}: ends before it starts")
    status_code = span.status.code
    return SpanRecord(
        tenant=tenant,
        trace_id=trace_id.hex(),
        span_id=span_id.hex(),
        parent_span_id=parent.hex() if parent and parent != _ZERO_SPAN else None,
        name=span.name[:_NAME_LEN],
        start_ns=start,
        end_ns=end,
        otel_kind=_KINDS[span.kind] if 0 < span.kind < len(_KINDS) else "INTERNAL",
        status=_STATUSES[status_code] if 0 <= status_code < 3 else "unset",
        status_message=span.status.message or None,
        service=service,
        scope=scope,
        attributes=_anyvalue.attributes(span.attributes),
        # An event time past 64 bits (exceptions and evaluations are stored with theirs) failed
        # the whole batch, for ever: such an event is timed at its span's end.
        events=[
            SpanEvent(
                e.name,
                end if e.time_unix_nano > MAX_NS else e.time_unix_nano,
                _anyvalue.attributes(e.attributes),
            )
            for e in span.events
        ],
        resource=resource,  # one dict per resource, shared by its spans: never copied
    )


def _span_by_span(
    body: bytes, tenant: str, max_spans: int, slice_bytes: int
) -> Iterator[DecodeResult]:
    """Parse each resource, scope and span alone, so one bad string costs one span (the
    slow path of a request the runtime would not parse whole), and yield the records a slice
    of at most ``slice_bytes`` of spans at a time."""
    # The pieces below are views of the body, not copies (the runtime parses any buffer;
    # its type stubs say bytes).
    view = cast(bytes, memoryview(body))
    try:
        tree = [
            (rs, [(ss, length_delimited_fields(ss, 2)) for ss in length_delimited_fields(rs, 2)])
            for rs in length_delimited_fields(view, 1)
        ]
    except WireError as exc:
        raise PermanentError(f"malformed protobuf: {exc}") from None
    check_count(sum(len(spans) for _, sss in tree for _, spans in sss), max_spans)
    result, held = DecodeResult(), 0
    for rs_bytes, scope_spans in tree:
        resource = _lenient_resource(rs_bytes)
        for ss_bytes, span_blobs in scope_spans:
            if resource is None:
                result.reject("malformed_resource", "resource is not valid OTLP", len(span_blobs))
                continue
            scope = _lenient_scope(ss_bytes)
            spans: list[Span] = []
            for blob in span_blobs:
                if held and held + len(blob) > slice_bytes:
                    _convert_spans(spans, tenant, resource, scope, result)
                    spans = []  # the parsed spans are not kept while the slice is processed
                    yield result
                    result, held = DecodeResult(), 0
                held += len(blob)
                try:
                    spans.append(Span.FromString(blob))
                except (DecodeError, RecursionError) as exc:
                    result.reject(*_protobuf_problem(exc))
            _convert_spans(spans, tenant, resource, scope, result)
    yield result


def _protobuf_problem(exc: Exception) -> tuple[str, str]:
    """The rejection reason and detail for a span the protobuf runtime would not parse."""
    text = str(exc)
    if isinstance(exc, RecursionError) or "MaxDepth" in text:
        return "nested_too_deeply", "span is nested more than 100 levels deep"
    if "UTF-8" in text:
        return "malformed_span", "span has a string that is not valid UTF-8"
    return "malformed_span", "span is not valid OTLP protobuf"


def _lenient_resource(rs_bytes: bytes) -> dict[str, Any] | None:
    try:
        blobs = length_delimited_fields(rs_bytes, 1)
        resource = Resource()
        for blob in blobs:
            resource.MergeFromString(blob)
        return _anyvalue.attributes(resource.attributes)
    except (WireError, DecodeError, RecursionError):
        return None


def _lenient_scope(ss_bytes: bytes) -> str | None:
    try:
        blobs = length_delimited_fields(ss_bytes, 1)
        return InstrumentationScope.FromString(blobs[-1]).name or None if blobs else None
    except (WireError, DecodeError, RecursionError):
        return None  # the scope name is optional; a bad one does not cost the spans


# --- OTLP/JSON ------------------------------------------------------------------------------


def decode_json(
    body: bytes, tenant: str, *, max_spans: int, max_objects: int = MAX_OBJECTS
) -> DecodeResult:
    """Decode an OTLP/JSON ExportTraceServiceRequest for ``tenant``."""
    check_json_objects(body, max_objects)
    try:
        # Strictly UTF-8: json.loads(bytes) would let encoded surrogates through.
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PermanentError(f"body is not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise PermanentError("JSON is nested too deeply") from None
    except ValueError as exc:
        raise PermanentError(f"malformed JSON: {str(exc)[:200]}") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(doc):
        raise PermanentError(
            "JSON has a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair) "
            "in a string: not valid Unicode"
        )
    if not isinstance(doc, dict):
        raise PermanentError("an OTLP/JSON request must be an object with 'resourceSpans'")
    result = DecodeResult()
    tree: list[tuple[dict[str, Any], list[tuple[dict[str, Any], list[Any]]]]] = []
    for n, rs in json_objects(doc, "resourceSpans", "resource_spans", "resourceSpans", result):
        where = f"resourceSpans[{n}].scopeSpans"
        listed = json_objects(rs, "scopeSpans", "scope_spans", where, result)
        tree.append(
            (rs, [(ss, json_list(ss, "spans", "spans", f"{where}[{m}].spans", result))
                  for m, ss in listed])
        )  # fmt: skip
    check_count(sum(len(spans) for _, sss in tree for _, spans in sss), max_spans)
    if result.rejected and not any(spans for _, sss in tree for _, spans in sss):
        raise PermanentError(str(result.first_error))  # nothing valid: a 200 reads as delivered
    for rs, scopes in tree:
        resource = _json_message(rs.get("resource") or {}, Resource)
        for ss, spans in scopes:
            if resource is None:
                result.reject("malformed_resource", "resource is not valid OTLP/JSON", len(spans))
                continue
            scope = _json_message(ss.get("scope") or {}, InstrumentationScope)
            parsed = []
            for item in spans:
                try:
                    parsed.append(_json_span(item))
                except _Reject as rej:
                    result.reject(rej.reason, rej.detail)
            scope_name = (scope.name or None) if scope is not None else None
            _convert_spans(
                parsed, tenant, _anyvalue.attributes(resource.attributes), scope_name, result
            )
    return result


def _has_lone_surrogate(doc: Any) -> bool:
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_message(value: Any, cls: type[Any]) -> Any:
    try:
        return ParseDict(value, cls(), ignore_unknown_fields=True)
    except Exception:  # json_format raises ParseError, TypeError, ValueError, RecursionError...
        return None


def _json_span(item: Any) -> Span:
    if not isinstance(item, dict):
        raise _Reject("malformed_span", "a span must be a JSON object")
    item = dict(item)
    item.pop("links", None)  # not stored; their hex ids would need the same treatment
    for camel, snake in (("traceId", "trace_id"), ("spanId", "span_id")):
        snake_value = item.pop(snake, "")
        item[camel] = _hex_to_b64(item.get(camel, snake_value), camel)
    parent = item.pop("parentSpanId", item.pop("parent_span_id", ""))
    if parent:
        item["parentSpanId"] = _hex_to_b64(parent, "parentSpanId")
    try:
        span: Span = ParseDict(item, Span(), ignore_unknown_fields=True)
        return span
    except Exception as exc:  # see _json_message
        if isinstance(exc, RecursionError) or "MaxDepth" in str(exc):
            raise _Reject("nested_too_deeply", "span is nested too deeply") from None
        raise _Reject("malformed_span", f"span is not valid OTLP/JSON: {str(exc)[:200]}") from None


def _hex_to_b64(value: Any, name: str) -> str:
    reason = "invalid_trace_id" if name == "traceId" else "invalid_span_id"
    if not isinstance(value, str):
        raise _Reject(reason, f"{name} must be a hex string")
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise _Reject(reason, f"{name} is not hex: {value[:40]!r}") from None
    return base64.b64encode(raw).decode("ascii")
