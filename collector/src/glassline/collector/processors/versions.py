"""What a span is attributed to besides its stage and model: service and prompt versions.

The one definition of how a span's service version (the resource's ``service.version``) and
prompt template (``glassline.prompt.name`` / ``glassline.prompt.version``, which peers' names
are renamed to by :mod:`.sources`) are read. Used by ``normalize`` (rollup dimensions), by
evaluations lifted from or computed on a span, and by feedback posted later against a stored
span, so a span and its evaluations always roll up under the same versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glassline.semconv import attributes as attrs

__all__ = ["MAX_PROMPT_NAME", "MAX_VERSION", "prompt_of", "service_version_of", "text"]

# The widths of the rollup and evaluation columns these values go to.
MAX_PROMPT_NAME = 256
MAX_VERSION = 128


def text(value: object, limit: int | None = None) -> str | None:
    """A non-empty string attribute value (cut to ``limit``), else None."""
    if isinstance(value, str) and value:
        return value[:limit] if limit else value
    return None


def _version(value: object) -> str | None:
    # Langfuse and Traceloop number their prompt versions: 7 and "7" are one version.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value, MAX_VERSION)


def service_version_of(resource: Mapping[str, Any]) -> str | None:
    """The resource's ``service.version``."""
    return text(resource.get(attrs.SERVICE_VERSION), MAX_VERSION)


def prompt_of(attributes: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The span's prompt template ``(name, version)``, either part None when not sent."""
    return (
        text(attributes.get(attrs.PROMPT_NAME), MAX_PROMPT_NAME),
        _version(attributes.get(attrs.PROMPT_VERSION)),
    )
