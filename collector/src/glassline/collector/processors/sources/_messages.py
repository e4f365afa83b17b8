"""Fold flattened, indexed message attributes into the conventions' JSON message lists.

OpenInference writes ``llm.input_messages.0.message.role`` / ``...message.content``; OpenLLMetry
writes ``gen_ai.prompt.0.role`` / ``gen_ai.completion.0.content``. The GenAI conventions want
one JSON attribute, ``gen_ai.input.messages`` / ``gen_ai.output.messages``, holding
``[{"role": ..., "parts": [{"type": "text", "content": ...}]}]``. Fields are collected while the
normalizer walks the attributes once; :func:`build_messages` assembles them at the end.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, NamedTuple

from glassline.collector.records import AttributeValue
from glassline.redaction import jsontext

# OpenInference nests tool-call and content fields one level deeper than OpenLLMetry; these
# rewrites bring both to one field shape: role, content, tool_calls.K.name, contents.M.text...
_FIELD_REWRITES = (
    (".tool_call.function.", "."),
    (".tool_call.", "."),
    (".message_content.", "."),
)


class MessagePrefix(NamedTuple):
    """A flattened-message prefix and the JSON attribute its messages fold into."""

    target: str
    default_role: str
    strip: str = ""  # per-message field prefix to drop, e.g. "message." for OpenInference


# (target attribute, default role) -> message index -> field -> value
Collected = dict[tuple[str, str], dict[int, dict[str, AttributeValue]]]


def collect(collected: Collected, spec: MessagePrefix, rest: str, value: AttributeValue) -> bool:
    """File ``rest`` (``"3.message.role"``) under its message index; False if not indexed."""
    index, _, field = rest.partition(".")
    if not index.isdecimal() or not field:
        return False
    if spec.strip and field.startswith(spec.strip):
        field = field[len(spec.strip) :]
    for old, new in _FIELD_REWRITES:
        if old in field:
            field = field.replace(old, new)
    collected.setdefault((spec.target, spec.default_role), {}).setdefault(int(index), {})[field] = (
        value
    )
    return True


def build_messages(fields_by_index: dict[int, dict[str, AttributeValue]], role: str) -> str:
    """The JSON message list for one target, messages in index order."""
    messages = [_message(fields_by_index[i], role) for i in sorted(fields_by_index)]
    return json.dumps(messages, ensure_ascii=False, separators=(",", ":"))


def _message(fields: dict[str, AttributeValue], default_role: str) -> dict[str, Any]:
    role = fields.get("role")
    role = role if isinstance(role, str) and role else default_role
    parts: list[dict[str, Any]] = []
    content = fields.get("content", fields.get("text"))
    call_id = fields.get("tool_call_id")
    if content is not None and role == "tool" and call_id is not None:
        parts.append({"type": "tool_call_response", "id": call_id, "response": content})
    elif content is not None:
        parts.append({"type": "text", "content": content})
    parts.extend(_indexed_parts(fields, "contents.", _content_part))
    parts.extend(_indexed_parts(fields, "tool_calls.", _tool_call_part))
    message: dict[str, Any] = {"role": role, "parts": parts}
    finish = fields.get("finish_reason")
    if finish is not None:
        message["finish_reason"] = finish
    return message


def _indexed_parts(fields: dict[str, AttributeValue], prefix: str, make: Any) -> list[Any]:
    grouped: dict[int, dict[str, AttributeValue]] = {}
    for key, value in fields.items():
        if key.startswith(prefix):
            index, _, sub = key[len(prefix) :].partition(".")
            if index.isdecimal() and sub:
                grouped.setdefault(int(index), {})[sub] = value
    return [part for i in sorted(grouped) if (part := make(grouped[i])) is not None]


def _content_part(sub: dict[str, AttributeValue]) -> dict[str, Any] | None:
    text = sub.get("text")
    if text is None:
        return None
    return {"type": "text", "content": text}


def _tool_call_part(sub: dict[str, AttributeValue]) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "name": sub.get("name")}
    if "id" in sub:
        part["id"] = sub["id"]
    arguments = sub.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: keep the string as sent
            arguments = jsontext.parse(arguments)
    if arguments is not None:
        part["arguments"] = arguments
    return part
