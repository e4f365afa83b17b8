"""Prompt and completion capture as GenAI-convention JSON, redacted and truncated in-process.

Every text is passed through the configured redactor BEFORE it is put on a span, so raw
content never leaves the process when a redactor is set. A redactor that fails yields
``[REDACTION_FAILED]``, never the raw text (fail closed). Each text is cut to
``max_content_chars``; the original total length is kept in ``glassline.truncated.<attr>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from glassline.instrumentation import _safe
from glassline.instrumentation._extract import get
from glassline.instrumentation._settings import Settings
from glassline.semconv import attributes as attrs

__all__ = [
    "Texts",
    "input_messages_json",
    "output_messages_json",
    "parts_json",
    "plain_messages_json",
    "put_input_messages",
    "put_json",
    "put_output_messages",
    "put_text",
    "text_message_json",
]

REDACTION_FAILED = "[REDACTION_FAILED]"


class Texts:
    """Redacts and truncates the texts of one attribute, tracking truncation."""

    __slots__ = ("original", "settings", "truncated")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.truncated = False
        self.original = 0

    def __call__(self, text: str) -> str:
        redactor = self.settings.redactor
        if redactor is not None:
            try:
                text = redactor(text)
            except Exception as exc:
                _safe.report("redactor", exc)
                text = REDACTION_FAILED
        self.original += len(text)
        limit = self.settings.max_content_chars
        if len(text) > limit:
            self.truncated = True
            return text[:limit]
        return text


# The convention's message JSON, one template per shape, written directly: the structures
# hold only strings, so each text is quoted once by the C string encoder, with the separators
# json.dumps uses (", ", ": "); several times faster than building dicts and encoding them, on
# every LLM span. Each ``%s`` takes JSON already quoted; test_content.py round-trips them all.
TEXT_PART = '{"type": "text", "content": %s}'
TYPED_PART = '{"type": %s}'  # a non-text part keeps only its type
MESSAGE = '{"role": %s, "parts": [%s]}'
ASSISTANT_MESSAGE = '{"role": "assistant", "parts": [%s], "finish_reason": %s}'
ASSISTANT_MESSAGE_NO_REASON = '{"role": "assistant", "parts": [%s]}'
# The commonest output whole: one assistant message of one text part, with its finish reason.
TEXT_ANSWER = (
    '[{"role": "assistant", "parts": [{"type": "text", "content": %s}], "finish_reason": %s}]'
)
LIST = "[%s]"
_USER = '"user"'

_quote: Callable[[str], str] = json.encoder.encode_basestring


def _parts(content: Any, clean: Texts) -> str:
    """The parts of one message's content (a string or a list of parts), comma-separated."""
    if isinstance(content, str):
        return TEXT_PART % _quote(clean(content))
    parts: list[str] = []
    for part in content if isinstance(content, list | tuple) else ():
        text = get(part, "text")
        if isinstance(text, str):
            parts.append(TEXT_PART % _quote(clean(text)))
        else:
            parts.append(TYPED_PART % _quote(str(get(part, "type") or "unknown")))
    return ", ".join(parts)


def parts_json(content: Any, clean: Texts) -> str:
    """The parts of one message's content (a string or a list of parts) as convention JSON."""
    return LIST % _parts(content, clean)


def plain_messages_json(messages: Any, limit: int) -> str | None:
    """JSON of a list of ``{"role": str, "content": str}`` dicts within ``limit``, else None.

    The shape of almost every chat call: written in one pass, without the per-text
    bookkeeping of :class:`Texts` (only valid when no redactor is set).
    """
    if type(messages) is not list:
        return None
    out: list[str] = []
    for message in messages:
        if type(message) is not dict:
            return None
        role, content = message.get("role"), message.get("content")
        if type(content) is not str or type(role) is not str or not role or len(content) > limit:
            return None
        out.append(MESSAGE % (_quote(role), TEXT_PART % _quote(content)))
    return LIST % ", ".join(out)


def input_messages_json(kwargs: Mapping[str, Any], clean: Texts) -> str | None:
    """Chat ``messages``, Responses ``input`` or a ``prompt`` keyword as convention JSON.

    Each message is ``{"role": ..., "parts": [{"type": "text", "content": ...}]}``; a
    non-text part keeps only its type. None when the call has no such keyword.
    """
    messages = kwargs.get("messages")
    if messages is None:
        messages = kwargs.get("input")
    if messages is None:
        messages = kwargs.get("prompt")
    if messages is None:
        return None
    if isinstance(messages, str):
        return LIST % (MESSAGE % (_USER, _parts(messages, clean)))
    out: list[str] = []
    for message in messages if isinstance(messages, list | tuple) else ():
        if type(message) is dict:  # the common case, read without the generic accessor
            role, content = message.get("role"), message.get("content")
        else:
            role, content = get(message, "role"), get(message, "content")
        out.append(MESSAGE % (_quote(str(role or "user")), _parts(content, clean)))
    return LIST % ", ".join(out)


def put_input_messages(out: dict[str, Any], kwargs: Mapping[str, Any], settings: Settings) -> None:
    """Add the call's input messages (if it has any) to ``out``."""
    if settings.redactor is None:
        plain = plain_messages_json(kwargs.get("messages"), settings.max_content_chars)
        if plain is not None:
            out[attrs.GEN_AI_INPUT_MESSAGES] = plain
            return
    clean = Texts(settings)
    messages = input_messages_json(kwargs, clean)
    if messages is not None:
        put_json(out, attrs.GEN_AI_INPUT_MESSAGES, messages, clean)


def put_output_messages(
    out: dict[str, Any],
    text: list[str],
    tool_calls: list[dict[str, Any]],
    finish_reasons: list[str],
    settings: Settings,
) -> None:
    """Add one assistant message (text, tool calls, last finish reason) to ``out``."""
    if not tool_calls and settings.redactor is None:
        joined = "".join(text)  # one part: join returns it, no copy
        if len(joined) <= settings.max_content_chars:  # nothing to redact or cut: no Texts
            content = joined if text else None
            out[attrs.GEN_AI_OUTPUT_MESSAGES] = text_message_json(content, finish_reasons)
            return
    clean = Texts(settings)
    messages = output_messages_json(text, tool_calls, finish_reasons, clean)
    put_json(out, attrs.GEN_AI_OUTPUT_MESSAGES, messages, clean)


def output_messages_json(
    text: list[str], tool_calls: list[dict[str, Any]], finish_reasons: list[str], clean: Texts
) -> str:
    """One assistant message (text, tool calls, last finish reason) as convention JSON."""
    if tool_calls:  # ids and names may be of any type: the general encoder handles them
        return _dumps(output_messages(text, tool_calls, finish_reasons, clean))
    return text_message_json(clean("".join(text)) if text else None, finish_reasons)


def text_message_json(text: str | None, finish_reasons: list[str]) -> str:
    """One assistant text message with the last finish reason, as convention JSON.

    ``text`` None: a message without parts (only a finish reason).
    """
    if text is not None and finish_reasons:
        return TEXT_ANSWER % (_quote(text), _quote(finish_reasons[-1]))
    parts = TEXT_PART % _quote(text) if text is not None else ""
    if finish_reasons:
        return LIST % (ASSISTANT_MESSAGE % (parts, _quote(finish_reasons[-1])))
    return LIST % (ASSISTANT_MESSAGE_NO_REASON % parts)


def output_messages(
    text: list[str], tool_calls: list[dict[str, Any]], finish_reasons: list[str], clean: Texts
) -> list[dict[str, Any]]:
    """One assistant message in convention form."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"type": "text", "content": clean("".join(text))})
    for call in tool_calls:
        arguments = call.get("arguments")
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": call.get("name"),
                "arguments": clean(arguments if isinstance(arguments, str) else _dumps(arguments)),
            }
        )
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish_reasons:
        message["finish_reason"] = finish_reasons[-1]
    return [message]


_ANY = json.JSONEncoder(default=str, ensure_ascii=False)


def _dumps(value: Any) -> str:
    return _ANY.encode(value)


def put_json(out: dict[str, Any], key: str, encoded: str, clean: Texts) -> None:
    """Add JSON text to ``out``, with the truncation marker when ``clean`` cut texts."""
    out[key] = encoded
    if clean.truncated:
        out[attrs.TRUNCATED_PREFIX + key] = clean.original


def put_text(out: dict[str, Any], key: str, value: Any, settings: Settings) -> None:
    """Add a free value (tool arguments or result) to ``out`` as redacted, truncated text."""
    clean = Texts(settings)
    out[key] = clean(value if isinstance(value, str) else _dumps(value))
    if clean.truncated:
        out[attrs.TRUNCATED_PREFIX + key] = clean.original
