"""Read model, tokens, finish reasons and output from LLM responses and stream chunks.

Shapes understood: OpenAI chat completions and Responses API objects (and their stream
chunks/events), Anthropic messages (and stream events), LiteLLM ``ModelResponse`` (OpenAI
shape), and plain dicts with the same keys or a ``usage`` mapping. There is one reader per
shape, chosen once per response or once per stream, by its first chunk
(:class:`StreamAccumulator`): chat completions, the commonest, are read straight into span
attributes by ``_chat.chat_attributes``; the others fill a :class:`Reading` here
(:func:`read_response`), which ``_llm.reading_attributes`` writes. Objects and dicts are read alike
through :func:`view` (a dict-speed reader). Unknown shapes leave fields unset; they never raise
on purpose (callers still guard, since a user's object may raise from a property).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from glassline.semconv import attributes as attrs

__all__ = ["Reading", "StreamAccumulator", "get", "put_usage", "read_response", "view"]


def get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; None when absent."""
    if type(obj) is dict:  # fast path: the common case, before the slower checks below
        return obj.get(key)
    if obj is None:
        return None
    if (_KINDS.get(type(obj)) or _kind(type(obj))) is _MAPPING:
        return obj.get(key)
    return getattr(obj, key, None)


class _AttrView:
    """``.get`` over an object's attributes (properties, slots)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, key: str) -> Any:
        return getattr(self.obj, key, None)


_EMPTY: dict[str, Any] = {}

# How objects of a type are read. isinstance(x, Mapping) is an ABC check that costs more than
# reading a whole response, and responses are made of a handful of types: decided per type.
_MAPPING, _PYDANTIC, _OBJECT = "mapping", "pydantic", "object"
_KINDS: dict[type, str] = {}
_MAX_TYPES = 1024  # a program that makes classes on the fly must not grow this forever


def _kind(cls: type) -> str:
    if issubclass(cls, Mapping):
        kind = _MAPPING
    elif hasattr(cls, "__pydantic_extra__"):  # pydantic v2 models declare it on the class
        kind = _PYDANTIC
    else:
        kind = _OBJECT
    if len(_KINDS) < _MAX_TYPES:
        _KINDS[cls] = kind
    return kind


def view(obj: Any) -> Mapping[str, Any] | _AttrView:
    """A reader with ``.get(key)`` for dicts, mappings, pydantic models and other objects.

    Pydantic models (every OpenAI/Anthropic/LiteLLM response type) keep their fields in
    ``__dict__`` (extras in ``__pydantic_extra__``), read here at dict speed.
    """
    cls = type(obj)
    if cls is dict:
        return obj  # type: ignore[no-any-return]
    if obj is None:
        return _EMPTY
    kind = _KINDS.get(cls) or _kind(cls)
    if kind is _MAPPING:
        return obj  # type: ignore[no-any-return]
    if kind is _PYDANTIC:
        try:
            fields, extra = obj.__dict__, obj.__pydantic_extra__
        except AttributeError:  # not built by pydantic's constructors
            return _AttrView(obj)
        if type(fields) is dict:
            return {**fields, **extra} if type(extra) is dict and extra else fields
    return _AttrView(obj)


class Reading:
    """What one response (or one whole stream) said about itself.

    ``attributes`` holds what a reader found that is a span attribute as it stands (model,
    response id, token counts, under their convention names); the finish reasons, text and
    tool calls are kept apart until the response is complete, when the one writer
    (``_llm.response_attributes``) adds the finish reasons, the cost and the output messages.
    """

    __slots__ = ("attributes", "finish_reasons", "text", "tool_calls")

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.finish_reasons: list[str] = []
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []


def put_usage(out: dict[str, Any], usage: Any, exclusive_input: bool = False) -> None:
    """Put the token counts of an OpenAI chat, Responses, Anthropic or LiteLLM usage block.

    A count that is absent or not an int (bool is not a count) is left as it was.
    ``exclusive_input``: Anthropic reports ``input_tokens`` WITHOUT the cached tokens; the
    conventions want them included, so they are added back here.
    """
    if usage is None:
        return
    fields = usage if type(usage) is dict else view(usage)
    prompt = fields.get("prompt_tokens")
    is_chat = type(prompt) is int
    if is_chat:  # chat completions and LiteLLM
        input_tokens: Any = prompt
        output_tokens = fields.get("completion_tokens")
        input_details = fields.get("prompt_tokens_details")
        output_details = fields.get("completion_tokens_details")
    else:  # Responses API and Anthropic
        input_tokens = fields.get("input_tokens")
        output_tokens = fields.get("output_tokens")
        input_details = fields.get("input_tokens_details")
        output_details = fields.get("output_tokens_details")
    # LiteLLM's Anthropic-style names first, then OpenAI's details.
    cache_read = fields.get("cache_read_input_tokens")
    cache_creation = fields.get("cache_creation_input_tokens")
    if input_details is not None:
        details = input_details if type(input_details) is dict else view(input_details)
        if type(cache_read) is not int:
            cache_read = details.get("cached_tokens")
        if type(cache_creation) is not int:
            cache_creation = details.get("cache_creation_tokens")
    if type(cache_read) is int:
        out[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read
    else:
        cache_read = 0
    if type(cache_creation) is int:
        out[attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = cache_creation
    else:
        cache_creation = 0
    if type(input_tokens) is int:
        if exclusive_input and not is_chat:
            input_tokens += cache_read + cache_creation
        out[attrs.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
    if type(output_tokens) is int:
        out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
    if output_details is not None:
        details = output_details if type(output_details) is dict else view(output_details)
        reasoning = details.get("reasoning_tokens")
        if type(reasoning) is int:
            out[attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning


def _put_header(out: dict[str, Any], model: Any, response_id: Any) -> None:
    """The response's model and id, when they are strings."""
    if type(model) is str or isinstance(model, str):
        out[attrs.GEN_AI_RESPONSE_MODEL] = model
    if type(response_id) is str or isinstance(response_id, str):
        out[attrs.GEN_AI_RESPONSE_ID] = response_id


def read_response(value: Any) -> Reading:
    """Read a complete response other than a chat completion with the reader of its shape.

    The shape is told once: an Anthropic message, a Responses API response, or anything else
    with a ``usage``. Chat completions have their own reader (``_chat.chat_attributes``).
    """
    reading = Reading()
    # A str, a number or None reads as an object without these fields: an empty reading.
    fields = value if type(value) is dict else view(value)
    if fields.get("type") == "message":
        _read_anthropic(reading, value)
    elif fields.get("object") == "response" or fields.get("output") is not None:
        _read_responses_api(reading, value)
    else:
        _put_header(reading.attributes, fields.get("model"), fields.get("id"))
        put_usage(reading.attributes, fields.get("usage"))
    return reading


def _read_responses_api(reading: Reading, value: Any) -> None:
    """A Responses API response: message text, function calls, status, usage."""
    _put_header(reading.attributes, get(value, "model"), get(value, "id"))
    for item in get(value, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or ():
                text = get(part, "text")
                if isinstance(text, str):
                    reading.text.append(text)
        elif kind == "function_call":
            reading.tool_calls.append(
                {
                    "id": get(item, "call_id"),
                    "name": get(item, "name"),
                    "arguments": get(item, "arguments"),
                }
            )
    status = get(value, "status")
    reason = get(get(value, "incomplete_details"), "reason")
    if isinstance(reason, str):
        reading.finish_reasons.append(reason)
    elif isinstance(status, str):
        reading.finish_reasons.append("stop" if status == "completed" else status)
    put_usage(reading.attributes, get(value, "usage"))


def _read_anthropic(reading: Reading, value: Any) -> None:
    """An Anthropic message: text and tool-use blocks, stop reason, usage."""
    _put_header(reading.attributes, get(value, "model"), get(value, "id"))
    for block in get(value, "content") or ():
        kind = get(block, "type")
        text = get(block, "text")
        if kind == "text" and isinstance(text, str):
            reading.text.append(text)
        elif kind == "tool_use":
            reading.tool_calls.append(
                {
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "arguments": get(block, "input"),
                }
            )
    reason = get(value, "stop_reason")
    if isinstance(reason, str):
        reading.finish_reasons.append(reason)
    put_usage(reading.attributes, get(value, "usage"), exclusive_input=True)


class StreamAccumulator:
    """Folds stream chunks/events into one :class:`Reading`.

    The reader is chosen once per stream, by the first chunk (:meth:`reader_for`): text, an
    event stream (Anthropic, the Responses API, openai's ``stream()`` helper), or chat
    completion chunks, as dicts or objects, or as pydantic models (the openai and LiteLLM
    clients'). Each reader then runs once per chunk: one frame per streamed token.
    """

    __slots__ = ("first_ns", "reader", "reading")

    def __init__(self) -> None:
        self.reading = Reading()
        self.first_ns = 0  # monotonic time the first chunk arrived; 0 until then
        self.reader: Callable[[Any], None] | None = None

    def add(self, chunk: Any) -> None:
        """Fold one chunk (the reader chosen by the first one)."""
        (self.reader or self.reader_for(chunk))(chunk)

    def reader_for(self, first: Any) -> Callable[[Any], None]:
        """The function that folds ``first`` and every later chunk of its stream."""
        self.first_ns = time.monotonic_ns()
        cls = type(first)
        fields = first if cls is dict or cls is str else view(first)
        reader: Callable[[Any], None]
        if cls is str:
            reader = self._add_text
        elif isinstance(fields.get("type"), str):
            reader = self._add_event
        elif cls is not dict and _KINDS.get(cls) is _PYDANTIC:
            reader = self._add_model_chunk
        else:
            reader = self._add_chunk
        self.reader = reader
        return reader

    def _add_text(self, chunk: Any) -> None:
        if type(chunk) is str:
            self.reading.text.append(chunk)

    # The two chat chunk readers differ only in how a chunk, choice and delta are read; the
    # rest is written out in each (a helper call per chunk costs as much as the reading).
    def _add_chunk(self, chunk: Any) -> None:
        """A chat completion chunk as a dict (or any object, read through :func:`view`)."""
        fields = chunk if type(chunk) is dict else view(chunk)
        reading = self.reading
        if not reading.attributes:  # every chunk repeats the model and id: read them once
            _put_header(reading.attributes, fields.get("model"), fields.get("id"))
        for choice in fields.get("choices") or ():
            choice_fields = choice if type(choice) is dict else view(choice)
            delta = choice_fields.get("delta")
            content = (delta if type(delta) is dict else view(delta)).get("content")
            if type(content) is str:
                reading.text.append(content)
            reason = choice_fields.get("finish_reason")
            if reason is not None and isinstance(reason, str):
                reading.finish_reasons.append(reason)
        usage = fields.get("usage")
        if usage is not None:  # sent on the last chunk with stream_options.include_usage
            put_usage(reading.attributes, usage)

    def _add_model_chunk(self, chunk: Any) -> None:
        """A chat completion chunk as a pydantic model: its fields are its ``__dict__`` (extras
        merged, through :func:`view`, only when it has some), and so for its choices and delta.
        """
        fields = chunk.__dict__ if not chunk.__pydantic_extra__ else view(chunk)
        reading = self.reading
        if not reading.attributes:
            _put_header(reading.attributes, fields.get("model"), fields.get("id"))
        for choice in fields.get("choices") or ():
            choice_fields = choice.__dict__ if not choice.__pydantic_extra__ else view(choice)
            delta = choice_fields.get("delta")
            if delta is not None:
                delta_fields = delta.__dict__ if not delta.__pydantic_extra__ else view(delta)
                content = delta_fields.get("content")
                if type(content) is str:
                    reading.text.append(content)
            reason = choice_fields.get("finish_reason")
            if reason is not None and isinstance(reason, str):
                reading.finish_reasons.append(reason)
        usage = fields.get("usage")
        if usage is not None:
            put_usage(reading.attributes, usage)

    def _add_event(self, event: Any) -> None:
        """An event of Anthropic's or the Responses API's stream, or of openai's helper."""
        reading = self.reading
        out = reading.attributes
        kind = get(event, "type")
        if kind == "chunk":  # openai's chat.completions.stream() helper wraps each raw chunk
            inner = get(event, "chunk")
            if inner is not None:
                self._add_chunk(inner)
        elif kind == "message_start":  # Anthropic
            message = get(event, "message")
            _put_header(out, get(message, "model"), get(message, "id"))
            put_usage(out, get(message, "usage"), exclusive_input=True)
        elif kind == "content_block_delta":
            text = get(get(event, "delta"), "text")
            if isinstance(text, str):
                reading.text.append(text)
        elif kind == "message_delta":
            reason = get(get(event, "delta"), "stop_reason")
            if isinstance(reason, str):
                reading.finish_reasons.append(reason)
            # Anthropic's final usage carries output tokens (and repeats cache counts).
            output_tokens = get(get(event, "usage"), "output_tokens")
            if type(output_tokens) is int:
                out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        elif kind == "response.output_text.delta":  # OpenAI Responses API
            delta = get(event, "delta")
            if isinstance(delta, str):
                reading.text.append(delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            final = read_response(get(event, "response"))
            final.text = reading.text or final.text
            self.reading = final
        elif kind == "response.created":
            response = get(event, "response")
            _put_header(out, get(response, "model"), get(response, "id"))
