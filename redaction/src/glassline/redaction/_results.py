"""What redaction returns: the outcome for one text and for one attribute map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RedactionResult", "TextResult"]


@dataclass(frozen=True, slots=True)
class TextResult:
    """The outcome for one text. ``dropped``: a ``drop`` entity was found in it."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    dropped: bool = False
    failed: bool = False
    truncated_from: int | None = None  # original length when the text was cut


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The outcome for one attribute map.

    ``attributes`` is a new dict (the input is not modified) without the dropped attributes;
    ``counts`` are redactions per entity type; ``failed`` counts values replaced by
    ``[REDACTION_FAILED]``; ``truncated`` maps attribute names to their original length.
    """

    attributes: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    truncated: dict[str, int] = field(default_factory=dict)
