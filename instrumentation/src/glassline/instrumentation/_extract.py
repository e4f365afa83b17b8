"""Read model, tokens, finish reasons and output from LLM responses and stream chunks.

Shapes understood: OpenAI chat completions and Responses API objects (and their stream
chunks/events), Anthropic messages (and stream events), LiteLLM ``ModelResponse`` (OpenAI
shape), and plain dicts with the same keys or a ``usage`` mapping. Objects and dicts are read
alike through :func:`get`. Unknown shapes leave fields unset; they never raise on purpose
(callers still guard, since a user's object may raise from a property).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glassline.instrumentation import attributes as attrs

__all__ = ["ResponseInfo", "StreamAccumulator", "extract_response", "get"]


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):  # fast path: isinstance(dict) is a C check, Mapping is an ABC
        return obj.get(key)
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ResponseInfo:
    """What one response (or one whole stream) said about itself."""

    __slots__ = (
        "cache_creation",
        "cache_read",
        "finish_reasons",
        "input_tokens",
        "model",
        "output_tokens",
        "reasoning",
        "response_id",
        "text",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None  # includes cache tokens (GenAI conventions)
        self.output_tokens: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.reasoning: int | None = None
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []

    def attributes(self) -> dict[str, Any]:
        """The span attributes for the fields that are known."""
        out: dict[str, Any] = {}
        pairs = (
            (attrs.GEN_AI_RESPONSE_MODEL, self.model),
            (attrs.GEN_AI_RESPONSE_ID, self.response_id),
            (attrs.GEN_AI_USAGE_INPUT_TOKENS, self.input_tokens),
            (attrs.GEN_AI_USAGE_OUTPUT_TOKENS, self.output_tokens),
            (attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, self.cache_read),
            (attrs.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, self.cache_creation),
            (attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self.reasoning),
        )
        for key, value in pairs:
            if value is not None:
                out[key] = value
        if self.finish_reasons:
            out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = list(self.finish_reasons)
        return out

    def read_usage(self, usage: Any, exclusive_input: bool = False) -> None:
        """Fill token counts from an OpenAI, Responses, Anthropic or LiteLLM usage block.

        ``exclusive_input``: Anthropic reports ``input_tokens`` WITHOUT the cached tokens; the
        conventions want them included, so they are added back here.
        """
        if usage is None:
            return
        prompt = _int(get(usage, "prompt_tokens"))
        inp = prompt if prompt is not None else _int(get(usage, "input_tokens"))
        out = _int(get(usage, "completion_tokens"))
        out = out if out is not None else _int(get(usage, "output_tokens"))
        in_details = get(usage, "prompt_tokens_details") or get(usage, "input_tokens_details")
        out_details = get(usage, "completion_tokens_details") or get(usage, "output_tokens_details")
        read = _int(get(usage, "cache_read_input_tokens"))
        read = read if read is not None else _int(get(in_details, "cached_tokens"))
        creation = _int(get(usage, "cache_creation_input_tokens"))
        if creation is None:
            creation = _int(get(in_details, "cache_creation_tokens"))
        if exclusive_input and prompt is None and inp is not None:
            inp += (read or 0) + (creation or 0)
        self.input_tokens = inp if inp is not None else self.input_tokens
        self.output_tokens = out if out is not None else self.output_tokens
        self.cache_read = read if read is not None else self.cache_read
        self.cache_creation = creation if creation is not None else self.cache_creation
        reasoning = _int(get(out_details, "reasoning_tokens"))
        self.reasoning = reasoning if reasoning is not None else self.reasoning


def _is_anthropic_message(value: Any) -> bool:
    return bool(get(value, "type") == "message")


def extract_response(value: Any) -> ResponseInfo:
    """Read a complete (non-streamed) response of any understood shape."""
    info = ResponseInfo()
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return info
    model, rid = get(value, "model"), get(value, "id")
    info.model = model if isinstance(model, str) else None
    info.response_id = rid if isinstance(rid, str) else None
    if _is_anthropic_message(value):
        _read_anthropic(info, value)
    elif get(value, "object") == "response" or get(value, "output") is not None:
        _read_responses_api(info, value)
    else:
        _read_chat(info, value)
    return info


def _read_chat(info: ResponseInfo, value: Any) -> None:
    choices = get(value, "choices")
    for choice in choices if isinstance(choices, list) else ():
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            info.finish_reasons.append(reason)
        message = get(choice, "message")
        content = get(message, "content")
        if isinstance(content, str):
            info.text.append(content)
        elif isinstance(get(choice, "text"), str):  # legacy completions
            info.text.append(get(choice, "text"))
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            info.tool_calls.append(
                {
                    "id": get(call, "id"),
                    "name": get(function, "name"),
                    "arguments": get(function, "arguments"),
                }
            )
    info.read_usage(get(value, "usage"))


def _read_responses_api(info: ResponseInfo, value: Any) -> None:
    for item in get(value, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or ():
                if isinstance(get(part, "text"), str):
                    info.text.append(get(part, "text"))
        elif kind == "function_call":
            info.tool_calls.append(
                {
                    "id": get(item, "call_id"),
                    "name": get(item, "name"),
                    "arguments": get(item, "arguments"),
                }
            )
    status = get(value, "status")
    reason = get(get(value, "incomplete_details"), "reason")
    if isinstance(reason, str):
        info.finish_reasons.append(reason)
    elif isinstance(status, str):
        info.finish_reasons.append("stop" if status == "completed" else status)
    info.read_usage(get(value, "usage"))


def _read_anthropic(info: ResponseInfo, value: Any) -> None:
    for block in get(value, "content") or ():
        kind = get(block, "type")
        if kind == "text" and isinstance(get(block, "text"), str):
            info.text.append(get(block, "text"))
        elif kind == "tool_use":
            info.tool_calls.append(
                {
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "arguments": get(block, "input"),
                }
            )
    reason = get(value, "stop_reason")
    if isinstance(reason, str):
        info.finish_reasons.append(reason)
    info.read_usage(get(value, "usage"), exclusive_input=True)


class StreamAccumulator:
    """Folds stream chunks/events into one :class:`ResponseInfo`."""

    __slots__ = ("info",)

    def __init__(self) -> None:
        self.info = ResponseInfo()

    def add(self, chunk: Any) -> None:
        """Fold one chunk: OpenAI chat chunk, Responses event, Anthropic event, dict or str."""
        if isinstance(chunk, str):
            self.info.text.append(chunk)
            return
        kind = get(chunk, "type")
        if isinstance(kind, str):
            self._add_event(kind, chunk)
        else:
            self._add_chat_chunk(chunk)

    def _add_chat_chunk(self, chunk: Any) -> None:
        info = self.info
        model, rid = get(chunk, "model"), get(chunk, "id")
        if isinstance(model, str):
            info.model = model
        if isinstance(rid, str):
            info.response_id = rid
        for choice in get(chunk, "choices") or ():
            delta = get(choice, "delta")
            content = get(delta, "content")
            if isinstance(content, str):
                info.text.append(content)
            reason = get(choice, "finish_reason")
            if isinstance(reason, str):
                info.finish_reasons.append(reason)
        usage = get(chunk, "usage")
        if usage is not None:  # sent on the last chunk with stream_options.include_usage
            info.read_usage(usage)

    def _add_event(self, kind: str, event: Any) -> None:
        info = self.info
        if kind == "message_start":  # Anthropic
            message = get(event, "message")
            info.model = get(message, "model") or info.model
            info.response_id = get(message, "id") or info.response_id
            info.read_usage(get(message, "usage"), exclusive_input=True)
        elif kind == "content_block_delta":
            text = get(get(event, "delta"), "text")
            if isinstance(text, str):
                info.text.append(text)
        elif kind == "message_delta":
            reason = get(get(event, "delta"), "stop_reason")
            if isinstance(reason, str):
                info.finish_reasons.append(reason)
            # Anthropic's final usage carries output tokens (and repeats cache counts).
            out = _int(get(get(event, "usage"), "output_tokens"))
            if out is not None:
                info.output_tokens = out
        elif kind == "response.output_text.delta":  # OpenAI Responses API
            delta = get(event, "delta")
            if isinstance(delta, str):
                info.text.append(delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            final = extract_response(get(event, "response"))
            final.text = info.text or final.text
            self.info = final
        elif kind in ("response.created",):
            response = get(event, "response")
            info.model = get(response, "model") or info.model
            info.response_id = get(response, "id") or info.response_id
