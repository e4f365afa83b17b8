"""OTLP logs ingest for GenAI events: decode, redact, store next to (and into) their spans."""

from __future__ import annotations

from glassline.collector.logs.consume import CONTENT_STEPS, LogsConsumer
from glassline.collector.logs.decode import LogsDecodeResult, decode_logs

__all__ = ["CONTENT_STEPS", "LogsConsumer", "LogsDecodeResult", "decode_logs"]
