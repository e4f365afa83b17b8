"""The reader of chat completions: OpenAI's and LiteLLM's (and legacy text completions).

Most ``@llm`` calls return one: the openai client's ``ChatCompletion``, LiteLLM's
``ModelResponse`` or the same as a dict. This reads it straight into span attributes, with
its cost and output messages, in one pass: no intermediate record, because on the hot path
each further Python function a call runs costs about as much as its body when the caches are
cold (see docs/instrumentation.md#overhead). The other shapes are read by ``_extract``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glassline.instrumentation import _content, _settings
from glassline.instrumentation._cost import put_cost
from glassline.instrumentation._extract import get, put_usage, view
from glassline.semconv import attributes as attrs

__all__ = ["chat_attributes"]


def chat_attributes(
    response: Mapping[str, Any] | Any,
    choices: list[Any],
    *,
    provider: str | None,
    request_model: str | None,
    settings: _settings.Settings,
) -> dict[str, Any]:
    """Response attributes, cost and output messages of a chat completion.

    ``response``: the completion's fields (a dict, or :func:`~._extract.view` of an object);
    ``choices``: its ``choices`` list.
    """
    out: dict[str, Any] = {}
    model, response_id = response.get("model"), response.get("id")
    if type(model) is str or isinstance(model, str):
        out[attrs.GEN_AI_RESPONSE_MODEL] = model
    if type(response_id) is str or isinstance(response_id, str):
        out[attrs.GEN_AI_RESPONSE_ID] = response_id
    text: list[str] = []
    reasons: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for choice in choices:
        choice_fields = choice if type(choice) is dict else view(choice)
        reason = choice_fields.get("finish_reason")
        if type(reason) is str or isinstance(reason, str):
            reasons.append(reason)
        message = choice_fields.get("message")
        message_fields = message if type(message) is dict else view(message)
        content = message_fields.get("content")
        if type(content) is str or isinstance(content, str):
            text.append(content)
        else:
            legacy = choice_fields.get("text")  # legacy completions
            if isinstance(legacy, str):
                text.append(legacy)
        calls = message_fields.get("tool_calls")
        for call in calls or ():
            function = get(call, "function")
            tool_calls.append(
                {
                    "id": get(call, "id"),
                    "name": get(function, "name"),
                    "arguments": get(function, "arguments"),
                }
            )
    usage = response.get("usage")
    if usage is not None:
        # put_usage's chat case written out (held equal by a test): the usage block of nearly
        # every LLM span, where a call costs about what this reading does.
        usage_fields = usage if type(usage) is dict else view(usage)
        input_tokens = usage_fields.get("prompt_tokens")
        if type(input_tokens) is int:
            output_tokens = usage_fields.get("completion_tokens")
            # LiteLLM's Anthropic-style names first, then OpenAI's details.
            cache_read = usage_fields.get("cache_read_input_tokens")
            cache_creation = usage_fields.get("cache_creation_input_tokens")
            details = usage_fields.get("prompt_tokens_details")
            if details is not None:
                input_details = details if type(details) is dict else view(details)
                if type(cache_read) is not int:
                    cache_read = input_details.get("cached_tokens")
                if type(cache_creation) is not int:
                    cache_creation = input_details.get("cache_creation_tokens")
            if type(cache_read) is int:
                out[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read
            if type(cache_creation) is int:
                out[attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = cache_creation
            out[attrs.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
            if type(output_tokens) is int:
                out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
            details = usage_fields.get("completion_tokens_details")
            if details is not None:
                output_details = details if type(details) is dict else view(details)
                reasoning = output_details.get("reasoning_tokens")
                if type(reasoning) is int:
                    out[attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
        else:  # a chat completion with Responses-style names (some gateways)
            put_usage(out, usage)
    if reasons:
        out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    put_cost(out, provider=provider, request_model=request_model, settings=settings)
    if settings.capture_content and (text or tool_calls):
        _content.put_output_messages(out, text, tool_calls, reasons, settings)
    return out
