"""The commonest response, a chat completion with one text answer, read in one pass.

Most ``@llm`` calls return one: the openai client's ``ChatCompletion``, LiteLLM's
``ModelResponse`` or the same as a dict. Reading it straight into span attributes, without
the general path's :class:`~._extract.ResponseInfo`, halves the Python work of a call's end,
and more in a real app, where this code runs with cold caches between model calls. Any other
shape returns None and takes the general path; tests hold the two paths equal.
"""

from __future__ import annotations

from typing import Any

from glassline.instrumentation import _content, _settings
from glassline.instrumentation._cost import put_cost
from glassline.instrumentation._extract import view
from glassline.pricing import price_of, table_price
from glassline.semconv import attributes as attrs

__all__ = ["chat_attributes"]

_NO_TOOL_CALLS: list[dict[str, Any]] = []


def chat_attributes(
    value: Any, provider: str | None, request_model: str | None, settings: _settings.Settings
) -> dict[str, Any] | None:
    """Response attributes, cost and output messages of a one-choice text chat completion.

    None when ``value`` is anything else, or has a field of an unusual type or value.
    """
    # One function on purpose: each further Python function this runs costs about as much
    # as its body when the caches are cold (measured; see docs/instrumentation.md#overhead).
    response = value if type(value) is dict else view(value)
    choices = response.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    choice_fields = choice if type(choice) is dict else view(choice)
    message = choice_fields.get("message")
    message_fields = message if type(message) is dict else view(message)
    content = message_fields.get("content")
    if type(content) is not str or message_fields.get("tool_calls"):
        return None
    model = response.get("model")
    response_id = response.get("id")
    reason = choice_fields.get("finish_reason")
    # Exact types only: subclasses of str (and absent fields) are left to the general path.
    if type(model) is not str or (response_id is not None and type(response_id) is not str):
        return None
    if reason is not None and type(reason) is not str:
        return None
    usage = response.get("usage")
    usage_fields = usage if type(usage) is dict else view(usage)
    input_tokens = usage_fields.get("prompt_tokens")
    output_tokens = usage_fields.get("completion_tokens")
    if type(input_tokens) is not int or type(output_tokens) is not int:
        return None
    if input_tokens < 0 or output_tokens < 0:
        return None
    if usage_fields.get("cache_read_input_tokens") is not None:  # LiteLLM's Anthropic-style
        return None
    if usage_fields.get("cache_creation_input_tokens") is not None:
        return None
    out: dict[str, Any] = {attrs.GEN_AI_RESPONSE_MODEL: model}
    if response_id is not None:
        out[attrs.GEN_AI_RESPONSE_ID] = response_id
    out[attrs.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    cache_read = cache_creation = 0
    details = usage_fields.get("prompt_tokens_details")
    if details is not None:
        input_details = details if type(details) is dict else view(details)
        cached = input_details.get("cached_tokens")
        written = input_details.get("cache_creation_tokens")
        if type(cached) is int:
            out[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read = cached
        if type(written) is int:
            out[attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = cache_creation = written
        if cache_read < 0 or cache_creation < 0 or cache_read + cache_creation > input_tokens:
            return None  # the general path decides what such counts cost
    details = usage_fields.get("completion_tokens_details")
    if details is not None:
        output_details = details if type(details) is dict else view(details)
        reasoning = output_details.get("reasoning_tokens")
        if type(reasoning) is int:
            out[attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    reasons = [reason] if reason is not None else []
    if reasons:
        out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    # Without overrides, straight to the table's cache (a C call where price_of is a frame).
    prices = settings.prices
    price = price_of(model, provider, prices) if prices else table_price(model, provider)
    uncached = input_tokens - cache_read - cache_creation
    cost = (
        price.cost(uncached, output_tokens, cache_read, cache_creation)
        if price is not None
        else None
    )
    if cost is not None:
        out[attrs.COST_USD] = cost
        out[attrs.COST_SOURCE] = "sdk"
    else:  # the request's model may be priced; put_cost also logs why there is no cost
        put_cost(
            out,
            provider=provider,
            response_model=model,
            request_model=request_model,
            settings=settings,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read=cache_read,
            cache_creation=cache_creation,
        )
    if settings.capture_content:
        if settings.redactor is None and len(content) <= settings.max_content_chars:
            out[attrs.GEN_AI_OUTPUT_MESSAGES] = _content.text_message_json(content, reasons)
        else:
            _content.put_output_messages(out, [content], _NO_TOOL_CALLS, reasons, settings)
    return out
