"""OTLP receivers: they decode and hand spans (or GenAI events) to an injected ``consume``;
they never touch storage."""

from __future__ import annotations

from glassline.collector.receivers._ingest import Consume, ConsumeLogs, Ingest, LogsIngest
from glassline.collector.receivers.grpc import GrpcReceiver, max_unseen_calls
from glassline.collector.receivers.http import build_app, uvicorn_config

__all__ = [
    "Consume",
    "ConsumeLogs",
    "GrpcReceiver",
    "Ingest",
    "LogsIngest",
    "build_app",
    "max_unseen_calls",
    "uvicorn_config",
]
