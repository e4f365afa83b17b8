"""Configuration of the store: where it lives, how long data is kept, pooling, partitioning."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from glassline.collector.validation import MAX_DURATION_S, MAX_RETENTION_DAYS

__all__ = ["PartitioningConfig", "StorageConfig", "store_url"]


def store_url(url: str) -> str:
    """``url`` as the store's engine takes it; ``ValueError`` for a database it cannot use.

    ``postgresql://`` means psycopg 3 (SQLAlchemy alone would pick psycopg2).
    """
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"):
        raise ValueError(
            "must start with sqlite:/// or postgresql+psycopg:// (psycopg 3 is the driver)"
        )
    if scheme == "postgresql":
        return "postgresql+psycopg" + url[len("postgresql") :]
    return url


class PartitioningConfig(BaseModel):
    """``storage.partitioning`` (PostgreSQL only): range-partition ``spans`` by start time.

    Each ``period`` of span start times gets its own table, made ``premake`` periods ahead;
    retention drops whole expired partitions instead of deleting rows one by one.
    """

    model_config = ConfigDict(extra="forbid")

    period: Literal["hour", "day", "week"] = "day"
    premake: int = Field(default=3, ge=1, le=400, description="periods made ahead of time")


class StorageConfig(BaseModel):
    """The ``storage`` section of the collector config.

    ``url`` is an SQLAlchemy URL: ``sqlite:///path/to/file.db`` (the default, WAL mode) or
    ``postgresql+psycopg://user:pass@host:5432/db`` for several collector replicas.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///.glassline/glassline.db"
    retention_days: float = Field(
        default=7, gt=0, le=MAX_RETENTION_DAYS, description="raw spans and trace summaries"
    )
    rollup_retention_days: float = Field(
        default=400, gt=0, le=MAX_RETENTION_DAYS, description="minute/hour rollups"
    )
    pool_size: int = Field(default=5, ge=1, description="PostgreSQL connections kept open")
    max_overflow: int = Field(default=10, ge=0, description="extra PostgreSQL connections")
    pool_timeout_s: float = Field(default=30, gt=0, le=MAX_DURATION_S)
    busy_timeout_ms: int = Field(
        default=30_000, ge=0, description="SQLite: how long a writer waits for the file lock"
    )
    max_dimension_values: int = Field(
        default=1_000,
        ge=1,
        description="distinct values of a rollup dimension (stage, model, route, ...) a tenant "
        "has per hour in each process's rollups; spans of further new values count as (other)",
    )
    partitioning: PartitioningConfig | None = None

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        return store_url(url)

    @field_validator("rollup_retention_days")
    @classmethod
    def _rollups_outlive_spans(cls, days: float, info: ValidationInfo) -> float:
        # The totals of a range come from the rollups, and the trace list asks them which days
        # a filter's value was seen: rollups kept shorter than spans would lose both.
        spans = info.data.get("retention_days")
        if spans is not None and days < spans:
            raise ValueError(f"must be at least storage.retention_days ({spans:g})")
        return days

    @field_validator("partitioning")
    @classmethod
    def _postgres_only(
        cls, partitioning: PartitioningConfig | None, info: ValidationInfo
    ) -> PartitioningConfig | None:
        url = info.data.get("url", "")
        if partitioning is not None and not url.startswith("postgresql"):
            raise ValueError("partitioning needs PostgreSQL (storage.url postgresql+psycopg://)")
        return partitioning
