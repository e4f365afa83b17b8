"""PII and secret redaction for LLM telemetry, built on Presidio.

>>> from glassline.redaction import Redactor, RedactionConfig
>>> r = Redactor(RedactionConfig())
>>> r("mail me at jane.doe@example.com")
'mail me at <EMAIL_ADDRESS>'
"""

from __future__ import annotations

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
