"""Errors raised by glassline.redaction.

::

    RedactionError                  base of everything raised here
    ├── RedactionConfigError        the configuration is invalid (raised at startup)
    └── RedactorSetupError          building the engines failed (raised at startup)
        └── NerModelMissingError    NER is configured but its spaCy model is not installed

Analysis errors never escape ``Redactor``: a value whose analysis raised is replaced by
``[REDACTION_FAILED]`` and counted (fail closed). No error message ever contains a value.
"""

from __future__ import annotations

__all__ = [
    "NerModelMissingError",
    "RedactionConfigError",
    "RedactionError",
    "RedactorSetupError",
]


class RedactionError(Exception):
    """Base class of every error raised by glassline.redaction."""


class RedactionConfigError(RedactionError, ValueError):
    """The redaction configuration is invalid; the message lists every error with its path."""


class RedactorSetupError(RedactionError):
    """Building the Presidio recognizers or the NLP engine failed."""


class NerModelMissingError(RedactorSetupError):
    """NER is enabled but the configured spaCy model cannot be imported."""
