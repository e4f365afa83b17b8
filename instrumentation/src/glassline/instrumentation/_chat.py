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
    v = value if type(value) is dict else view(value)
    choices = v.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    c = choice if type(choice) is dict else view(choice)
    message = c.get("message")
    m = message if type(message) is dict else view(message)
    content = m.get("content")
    if type(content) is not str or m.get("tool_calls"):
        return None
    model, rid, reason = v.get("model"), v.get("id"), c.get("finish_reason")
    # Exact types only: subclasses of str (and absent fields) are left to the general path.
    if type(model) is not str or (rid is not None and type(rid) is not str):
        return None
    if reason is not None and type(reason) is not str:
        return None
    usage = v.get("usage")
    u = usage if type(usage) is dict else view(usage)
    inp, output = u.get("prompt_tokens"), u.get("completion_tokens")
    if type(inp) is not int or type(output) is not int or inp < 0 or output < 0:
        return None
    if u.get("cache_read_input_tokens") is not None:  # LiteLLM's Anthropic-style counts
        return None
    if u.get("cache_creation_input_tokens") is not None:
        return None
    out: dict[str, Any] = {attrs.GEN_AI_RESPONSE_MODEL: model}
    if rid is not None:
        out[attrs.GEN_AI_RESPONSE_ID] = rid
    out[attrs.GEN_AI_USAGE_INPUT_TOKENS] = inp
    out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = output
    read = creation = 0
    details = u.get("prompt_tokens_details")
    if details is not None:
        d = details if type(details) is dict else view(details)
        cached, written = d.get("cached_tokens"), d.get("cache_creation_tokens")
        if type(cached) is int:
            out[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = read = cached
        if type(written) is int:
            out[attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = creation = written
        if read < 0 or creation < 0 or read + creation > inp:
            return None  # the general path decides what such counts cost
    details = u.get("completion_tokens_details")
    if details is not None:
        reasoning = (details if type(details) is dict else view(details)).get("reasoning_tokens")
        if type(reasoning) is int:
            out[attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
    reasons = [reason] if reason is not None else []
    if reasons:
        out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    # Without overrides, straight to the table's cache (a C call where price_of is a frame).
    prices = settings.prices
    price = price_of(model, provider, prices) if prices else table_price(model, provider)
    cost = price.cost(inp - read - creation, output, read, creation) if price is not None else None
    if cost is not None:
        out[attrs.COST_USD] = cost
        out[attrs.COST_SOURCE] = "sdk"
    else:  # the request's model may be priced; put_cost also logs why there is no cost
        put_cost(out, provider, model, request_model, settings, inp, output, read, creation)
    if settings.capture_content:
        if settings.redactor is None and len(content) <= settings.max_content_chars:
            out[attrs.GEN_AI_OUTPUT_MESSAGES] = _content.text_message_json(content, reasons)
        else:
            _content.put_output_messages(out, [content], _NO_TOOL_CALLS, reasons, settings)
    return out
