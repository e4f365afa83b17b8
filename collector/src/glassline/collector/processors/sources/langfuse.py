"""Langfuse (OTel ingestion attributes) -> Glassline.

Names from Langfuse's ``LangfuseOtelSpanAttributes``. Usage and cost arrive as JSON strings:
``langfuse.observation.usage_details`` (``{"input": .., "output": .., "input_cached_tokens": ..,
"total": ..}``) and ``langfuse.observation.cost_details`` (``{"input": .., "output": ..,
"total": ..}`` in USD). Langfuse prices every usage key on its own, so its ``input`` EXCLUDES the
cached parts listed beside it (its SDKs subtract them) and ``output`` excludes reasoning; when a
``total`` is present it decides which reading adds up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.redaction import jsontext
from glassline.semconv import attributes as a
from glassline.semconv.attributes import Operations, SpanKinds

from ._values import Hints, Rename, Source, json_object, nested_usage, to_amount, to_count, to_text

USAGE: Final = "langfuse.observation.usage_details"
COST: Final = "langfuse.observation.cost_details"
MARKERS: Final = ("langfuse.observation.type", USAGE, COST)
COMPLETION_START: Final = "langfuse.observation.completion_start_time"

RENAMES: Final[dict[str, Rename]] = {
    "langfuse.user.id": Rename(a.USER_ID, 20, to_text),
    "langfuse.session.id": Rename(a.SESSION_ID, 20, to_text),
    "langfuse.trace.name": Rename(a.WORKFLOW, 30),
    "langfuse.observation.model.name": Rename(a.GEN_AI_REQUEST_MODEL, 20),
    "langfuse.observation.prompt.name": Rename(a.PROMPT_NAME, 20),
    "langfuse.observation.prompt.version": Rename(a.PROMPT_VERSION, 20),  # an integer there
}

# usage_details key -> (bucket, whether the key's value excludes the cached/reasoning parts)
_INPUT_KEYS: Final = (("input", True), ("input_tokens", True), ("prompt_tokens", False))
_OUTPUT_KEYS: Final = (("output", True), ("output_tokens", True), ("completion_tokens", False))
_CACHE_READ_KEYS: Final = ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read")
_CACHE_WRITE_KEYS: Final = ("cache_creation_input_tokens", "input_cache_creation")
_REASONING_KEYS: Final = ("output_reasoning_tokens", "output_reasoning", "reasoning_tokens")

# langfuse.observation.type -> (Glassline kind, operation, is a named pipeline stage)
_KINDS: Final[dict[str, tuple[str | None, str | None, bool]]] = {
    "generation": (SpanKinds.LLM, Operations.CHAT, False),
    "embedding": (SpanKinds.LLM, Operations.EMBEDDINGS, False),
    "agent": (SpanKinds.STAGE, Operations.INVOKE_AGENT, True),
    "tool": (SpanKinds.TOOL, Operations.EXECUTE_TOOL, False),
    "chain": (SpanKinds.STAGE, None, True),
    "retriever": (SpanKinds.STAGE, None, True),
    "guardrail": (SpanKinds.STAGE, None, True),
    "evaluator": (SpanKinds.OTHER, None, False),
    "event": (SpanKinds.OTHER, None, False),
    "span": (None, None, False),  # plain span: root -> workflow, else other
}


def hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """Kind from ``langfuse.observation.type``; usage, cost and time to first token."""
    usage = json_object(attrs.get(USAGE))
    if usage:
        _usage(attrs, usage)
    cost = json_object(attrs.get(COST))
    if cost and a.COST_USD not in attrs:
        total = _cost_total(cost)
        if total is not None:
            attrs[a.COST_USD] = total
    _time_to_first_token(attrs, record)
    raw = to_text(attrs.get("langfuse.observation.type")) or ""
    kind, operation, is_stage = _KINDS.get(raw.lower(), (None, None, False))
    if kind == SpanKinds.LLM:
        _chat_messages(attrs, "langfuse.observation.input", a.GEN_AI_INPUT_MESSAGES, "user")
        _chat_messages(attrs, "langfuse.observation.output", a.GEN_AI_OUTPUT_MESSAGES, "assistant")
    if kind == SpanKinds.TOOL:
        attrs.setdefault(a.GEN_AI_TOOL_NAME, record.name)
        for source, target in (
            ("langfuse.observation.input", a.GEN_AI_TOOL_CALL_ARGUMENTS),
            ("langfuse.observation.output", a.GEN_AI_TOOL_CALL_RESULT),
        ):
            if source in attrs and target not in attrs:
                attrs[target] = attrs.pop(source)
    return Hints(kind=kind, stage=record.name if is_stage else None, operation=operation)


def _first(usage: dict[str, Any], keys: tuple[str, ...]) -> int:
    for key in keys:
        count = to_count(usage.get(key))
        if count is not None:
            return count
    return 0


def _bucket(usage: dict[str, Any], keys: tuple[tuple[str, bool], ...]) -> tuple[int, bool] | None:
    for key, excludes in keys:
        count = to_count(usage.get(key))
        if count is not None:
            return count, excludes
    return None


def _usage(attrs: dict[str, AttributeValue], usage: dict[str, Any]) -> None:
    """Write the conventions' token counts (input INCLUDING cached) from usage_details."""
    read = _first(usage, _CACHE_READ_KEYS)
    write = _first(usage, _CACHE_WRITE_KEYS)
    reasoning = _first(usage, _REASONING_KEYS)
    # Langfuse's OpenAI integration passes the client's usage as it came, nested details too.
    nested_read, nested_reasoning = nested_usage(usage)
    read = read or nested_read or 0
    reasoning = reasoning or nested_reasoning or 0
    inp = _bucket(usage, _INPUT_KEYS)
    out = _bucket(usage, _OUTPUT_KEYS)
    in_n, in_excl = inp if inp else (0, False)
    out_n, out_excl = out if out else (0, False)
    total = to_count(usage.get("total"))
    if total is not None and read + write + reasoning:
        # The total tells which reading of "input"/"output" the client used.
        if total == in_n + out_n + read + write + reasoning:
            in_excl = out_excl = True
        elif total == in_n + out_n:
            in_excl = out_excl = False
    counts = {
        a.GEN_AI_USAGE_INPUT_TOKENS: in_n + (read + write if in_excl else 0) if inp else None,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: out_n + (reasoning if out_excl else 0) if out else None,
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: read or None,
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: write or None,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning or None,
    }
    for name, value in counts.items():
        if value is not None and name not in attrs:
            attrs[name] = value


def _cost_total(cost: dict[str, Any]) -> float | None:
    total = to_amount(cost.get("total"))
    if total is not None:
        return total
    parts = [v for v in (to_amount(x) for x in cost.values()) if v is not None]
    return sum(parts) if parts else None


def _time_to_first_token(attrs: dict[str, AttributeValue], record: SpanRecord) -> None:
    raw = to_text(attrs.get(COMPLETION_START))
    if raw is None or a.TIME_TO_FIRST_CHUNK_MS in attrs:
        return
    try:
        # The SDK serialises the datetime as JSON, so it may arrive quoted.
        started = datetime.fromisoformat(raw.strip('"'))
    except ValueError:
        return
    if started.tzinfo is None:  # naive timestamps from the SDKs are UTC
        started = started.replace(tzinfo=UTC)
    ttft_ms = started.timestamp() * 1000.0 - record.start_ns / 1e6
    if ttft_ms >= 0:
        attrs[a.TIME_TO_FIRST_CHUNK_MS] = ttft_ms


def _chat_messages(attrs: dict[str, AttributeValue], source: str, target: str, role: str) -> None:
    """A generation's input/output becomes the conventions' messages: the OpenAI chat shape
    (``[{"role", "content"}]`` or one such object, content a string or a list of parts), or a
    plain string (a streamed completion's text, a prompt) as one message of ``role``.

    Anything else (a custom object) stays where it is.
    """
    raw = attrs.get(source)
    if target in attrs or not isinstance(raw, str):
        return
    if not raw.lstrip().startswith(("[", "{", '"')):
        messages = [{"role": role, "parts": [{"type": "text", "content": raw}]}]
    else:
        try:
            decoded = jsontext.parse(raw)
        except ValueError:
            return
        if isinstance(decoded, str):  # a JSON-quoted string
            messages = [{"role": role, "parts": [{"type": "text", "content": decoded}]}]
        else:
            found = _messages_of(decoded if isinstance(decoded, list) else [decoded], role)
            if found is None:
                return
            messages = found
    if messages:
        attrs[target] = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
        del attrs[source]


def _messages_of(items: list[Any], role: str) -> list[dict[str, Any]] | None:
    messages = []
    for item in items:
        if not isinstance(item, dict):
            return None
        parts = _parts(item.get("content"))
        if parts is None:
            return None
        who = item.get("role") if isinstance(item.get("role"), str) else role
        messages.append({"role": who, "parts": parts})
    return messages


def _parts(content: object) -> list[dict[str, Any]] | None:
    """Message content as the conventions' parts: text parts, and any other typed part
    (an image, a file) kept as a generic part of its own type."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if not isinstance(content, list):
        return None
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "content": part})
        elif isinstance(part, dict) and isinstance(part.get("type"), str):
            if part["type"] in ("text", "input_text", "output_text") and "text" in part:
                parts.append({"type": "text", "content": part["text"]})
            else:
                parts.append(dict(part))
        else:
            return None
    return parts


SOURCE: Final = Source("langfuse", RENAMES, MARKERS, hints)
