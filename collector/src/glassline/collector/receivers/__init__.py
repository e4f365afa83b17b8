"""OTLP receivers: they decode and hand spans to an injected ``consume``; never touch storage."""

from __future__ import annotations

from glassline.collector.receivers._ingest import Consume, Ingest
from glassline.collector.receivers.grpc import GrpcReceiver
from glassline.collector.receivers.http import build_app, uvicorn_config

__all__ = ["Consume", "GrpcReceiver", "Ingest", "build_app", "uvicorn_config"]
