"""PII and secret redaction for LLM telemetry, built on Presidio.

>>> from glassline.redaction import Redactor, RedactionConfig
>>> r = Redactor(RedactionConfig())
>>> r("mail me at jane.doe@example.com")
'mail me at <EMAIL_ADDRESS>'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from glassline.redaction.config import (
    KEY_ENV_VAR,
    NerConfig,
    RedactionConfig,
    ScopeConfig,
    load_config,
)
from glassline.redaction.entities import ALL_ENTITIES, NER_ENTITIES, PII_ENTITIES, SECRET_ENTITIES
from glassline.redaction.errors import (
    NerModelMissingError,
    RedactionConfigError,
    RedactionError,
    RedactorSetupError,
)

if TYPE_CHECKING:
    from glassline.redaction.redactor import (
        FAILED_TOKEN,
        Finding,
        RedactionResult,
        Redactor,
        TextResult,
    )

__all__ = [
    "ALL_ENTITIES",
    "FAILED_TOKEN",
    "KEY_ENV_VAR",
    "NER_ENTITIES",
    "PII_ENTITIES",
    "SECRET_ENTITIES",
    "Finding",
    "NerConfig",
    "NerModelMissingError",
    "RedactionConfig",
    "RedactionConfigError",
    "RedactionError",
    "RedactionResult",
    "Redactor",
    "RedactorSetupError",
    "ScopeConfig",
    "TextResult",
    "load_config",
]

# The redactor pulls in Presidio and spaCy (seconds, hundreds of MB); config, entities and
# errors do not. Loading it on first use lets a config be read and validated without it.
_LAZY = {
    name: "glassline.redaction.redactor"
    for name in ("FAILED_TOKEN", "Finding", "RedactionResult", "Redactor", "TextResult")
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
