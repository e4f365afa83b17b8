"""The collector's store: spans, trace summaries and true rollups, SQLite or PostgreSQL."""

from __future__ import annotations

from glassline.collector.storage.config import StorageConfig
from glassline.collector.storage.store import Store, StoreUnavailable
from glassline.collector.storage.writer import WriteResult

__all__ = ["StorageConfig", "Store", "StoreUnavailable", "WriteResult"]
