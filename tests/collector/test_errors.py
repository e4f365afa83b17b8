"""errors.py: each error class maps to the gRPC code and HTTP status its docstring promises."""

from __future__ import annotations

import grpc
import pytest

from glassline.collector import errors
from glassline.collector.errors import (
    AuthError,
    ConfigError,
    GlasslineError,
    PermanentError,
    RetryableError,
)


@pytest.mark.parametrize(
    ("error", "grpc_code", "http_status"),
    [
        (RetryableError("down"), grpc.StatusCode.UNAVAILABLE, 503),
        (RetryableError("full", overloaded=True), grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (PermanentError("bad"), grpc.StatusCode.INVALID_ARGUMENT, 400),
        (PermanentError("big", http_status=413), grpc.StatusCode.INVALID_ARGUMENT, 413),
        (AuthError("who"), grpc.StatusCode.UNAUTHENTICATED, 401),
    ],
)
def test_each_error_maps_to_its_wire_status(
    error: GlasslineError, grpc_code: grpc.StatusCode, http_status: int
) -> None:
    assert isinstance(error, GlasslineError)
    assert error.grpc_code == grpc_code
    assert error.http_status == http_status


def test_retryable_error_carries_its_retry_delay() -> None:
    assert RetryableError("x", retry_after_s=2.5).retry_after_s == 2.5


def test_config_error_lists_every_problem() -> None:
    exc = ConfigError(["a.b: bad", "c: worse"])
    assert exc.problems == ["a.b: bad", "c: worse"]
    assert "a.b: bad" in exc.message and "c: worse" in exc.message


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in ("GlasslineError", "RetryableError", "PermanentError", "AuthError", "ConfigError"):
        assert name in doc
