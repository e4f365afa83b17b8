"""One span through NormalizeProcessor, and the check every source's mapping table runs."""

from __future__ import annotations

from typing import Any

from glassline.collector.processors.normalize import NormalizeProcessor
from glassline.collector.records import SpanRecord


def normalize_one(
    attrs: dict[str, Any],
    *,
    name: str = "span",
    root: bool = False,
    start_ns: int = 0,
    end_ns: int = 1,
) -> SpanRecord:
    record = SpanRecord(
        tenant="acme",
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None if root else "3" * 16,
        name=name,
        start_ns=start_ns,
        end_ns=end_ns,
        attributes=dict(attrs),
    )
    [out] = NormalizeProcessor().process([record])
    return out


def assert_mapped(record: SpanRecord, fields: dict[str, Any], attrs: dict[str, Any]) -> None:
    """The typed fields and canonical attributes a mapping table row expects."""
    for field, value in fields.items():
        assert getattr(record, field) == value, field
    for name, value in attrs.items():
        assert record.attributes[name] == value, name
