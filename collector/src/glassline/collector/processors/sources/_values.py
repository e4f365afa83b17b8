"""Shared shapes of the mapping tables, and value coercion that never raises.

Spans come from many libraries and from hand-written code, so every number may arrive as a
string, a float, a bool, NaN or a negative value. These helpers turn a raw attribute value into
a clean one or ``None``; ``None`` means "ignore it", never "fail".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from glassline.collector.records import MAX_AMOUNT, MAX_COUNT, AttributeValue, SpanRecord
from glassline.redaction import jsontext

Transform = Callable[[AttributeValue], AttributeValue]


class Rename(NamedTuple):
    """``source name -> canonical name``; lower ``priority`` wins when several aliases meet."""

    canonical: str
    priority: int = 50
    transform: Transform | None = None


@dataclass(slots=True)
class Hints:
    """What a source's own vocabulary says about a span beyond plain renames."""

    kind: str | None = None
    stage: str | None = None
    operation: str | None = None
    name: str | None = None  # the span's display name, when the source's span name is not it
    start_ns: int | None = None  # the call's real start, when the span records only its end


HintFn = Callable[[dict[str, AttributeValue], SpanRecord], Hints]


@dataclass(frozen=True, slots=True)
class Source:
    """One library's vocabulary: renames, flattened message prefixes, and the hints that run
    when one of its ``markers`` is among a span's attributes."""

    name: str
    renames: dict[str, Rename]
    markers: tuple[str, ...] = ()
    hints: HintFn | None = None
    message_prefixes: dict[str, Any] = field(default_factory=dict)


def to_count(value: object) -> int | None:
    """A token count: an int from 0 to :data:`MAX_COUNT` from int, integral float or numeric
    string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float):
        return int(value) if 0 <= value <= MAX_COUNT else None  # NaN compares false
    if isinstance(value, str):
        text = value.strip()
        if text.isdecimal():  # isdigit() also admits "²", which int() refuses
            return to_count(int(text)) if len(text.lstrip("0")) < 20 else None
        try:
            return to_count(float(text))
        except ValueError:
            return None
    return None


def to_amount(value: object) -> float | None:
    """A money or duration amount: a float from 0 to :data:`MAX_AMOUNT`, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if 0 <= number <= MAX_AMOUNT else None  # NaN compares false


def to_text(value: object) -> str | None:
    """A non-empty string (numbers are accepted and stringified), else None."""
    if value is None:  # the common case on the hot path
        return None
    if type(value) is str or isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def seconds_to_ms(value: AttributeValue) -> AttributeValue:
    amount = to_amount(value)
    return None if amount is None else amount * 1000.0


def as_list(value: AttributeValue) -> AttributeValue:
    """A single finish reason becomes the list the conventions expect."""
    if isinstance(value, list):
        return value
    text = to_text(value)
    return None if text is None else [text]


def json_object(value: object) -> dict[str, Any] | None:
    """A JSON object from a string attribute (or an already-decoded dict), else None."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        decoded = jsontext.parse(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def nested_usage(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    """``(cached input, reasoning output)`` from OpenAI's nested usage shape, where present.

    ``{"prompt_tokens_details": {"cached_tokens"}, "completion_tokens_details":
    {"reasoning_tokens"}}`` (chat completions) or ``input_tokens_details`` /
    ``output_tokens_details`` (the Responses API).
    """
    cached = reasoning = None
    for key in ("prompt_tokens_details", "input_tokens_details"):
        details = usage.get(key)
        if isinstance(details, dict) and cached is None:
            cached = to_count(details.get("cached_tokens"))
    for key in ("completion_tokens_details", "output_tokens_details"):
        details = usage.get(key)
        if isinstance(details, dict) and reasoning is None:
            reasoning = to_count(details.get("reasoning_tokens"))
    return cached, reasoning
