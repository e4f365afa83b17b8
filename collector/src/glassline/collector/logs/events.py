"""GenAI events (OTLP log records) -> the span message attributes they carry.

Two generations of the conventions send content as events:

- one event per message (semconv <= 1.36, ``opentelemetry-instrumentation-openai-v2`` by
  default): ``gen_ai.{system,user,assistant,tool}.message`` with the message in the body
  (``{"content": ..., "tool_calls": [...], "id": ...}``) and ``gen_ai.choice`` with
  ``{"index", "finish_reason", "message": {...}}``;
- one event per call: ``gen_ai.client.inference.operation.details`` whose attributes hold
  ``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``
  already in the conventions' message format.

Both become ``{attribute: JSON list}`` in the format the normalizer writes for spans, built by
the same message builder (:mod:`..processors.sources._messages`).
"""

from __future__ import annotations

import json
from typing import Any

from glassline.collector.processors.sources import _messages
from glassline.collector.records import AttributeValue

__all__ = ["CONTENT_EVENTS", "EVALUATION_EVENT", "MESSAGE_ATTRIBUTES", "content_attributes"]

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
MESSAGE_ATTRIBUTES = (INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS)
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
EVALUATION_EVENT = "gen_ai.evaluation.result"

# Per-message events: the attribute their message joins and the role when the body has none.
_MESSAGE_EVENTS = {
    "gen_ai.system.message": (INPUT_MESSAGES, "system"),
    "gen_ai.user.message": (INPUT_MESSAGES, "user"),
    "gen_ai.assistant.message": (INPUT_MESSAGES, "assistant"),
    "gen_ai.tool.message": (INPUT_MESSAGES, "tool"),
    "gen_ai.choice": (OUTPUT_MESSAGES, "assistant"),
}
CONTENT_EVENTS = frozenset({*_MESSAGE_EVENTS, DETAILS_EVENT})


def content_attributes(
    name: str, body: Any, attributes: dict[str, AttributeValue]
) -> dict[str, AttributeValue]:
    """The message attributes event ``name`` contributes to its span (may be empty)."""
    if name == DETAILS_EVENT:
        out: dict[str, AttributeValue] = {}
        for key in MESSAGE_ATTRIBUTES:
            value = attributes.get(key)
            if isinstance(value, str):
                out[key] = value
            elif isinstance(value, list):
                out[key] = _dumps(value)
        return out
    target, role = _MESSAGE_EVENTS[name]
    body = body if isinstance(body, dict) else {"content": body} if body is not None else {}
    if name == "gen_ai.choice":
        message = body.get("message")
        fields = _fields(message if isinstance(message, dict) else {})
        if body.get("finish_reason") is not None:
            fields["finish_reason"] = body["finish_reason"]
    else:
        fields = _fields(body)
        if name == "gen_ai.tool.message" and body.get("id") is not None:
            fields["tool_call_id"] = body["id"]
    return {target: _messages.build_messages({0: fields}, role)}


def _fields(message: dict[str, Any]) -> dict[str, AttributeValue]:
    """A message body in the flattened field shape the message builder reads."""
    fields: dict[str, AttributeValue] = {}
    if isinstance(message.get("role"), str):
        fields["role"] = message["role"]
    content = message.get("content")
    if isinstance(content, str):
        fields["content"] = content
    elif isinstance(content, list):  # OpenAI content parts: keep the text ones
        for i, part in enumerate(content):
            text = part.get("text") if isinstance(part, dict) else part
            if isinstance(text, str):
                fields[f"contents.{i}.text"] = text
    elif content is not None:
        fields["content"] = _dumps(content)
    calls = message.get("tool_calls")
    for i, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else call
        for key, value in (
            ("id", call.get("id")),
            ("name", function.get("name")),
            ("arguments", function.get("arguments")),
        ):
            if value is not None:
                fields[f"tool_calls.{i}.{key}"] = value if isinstance(value, str) else _dumps(value)
    return fields


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
