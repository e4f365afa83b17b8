"""Read model, tokens, finish reasons and output from LLM responses and stream chunks.

Shapes understood: OpenAI chat completions and Responses API objects (and their stream
chunks/events), Anthropic messages (and stream events), LiteLLM ``ModelResponse`` (OpenAI
shape), and plain dicts with the same keys or a ``usage`` mapping. Objects and dicts are read
alike through :func:`view` (a dict-speed reader). Unknown shapes leave fields unset; they never raise on purpose
(callers still guard, since a user's object may raise from a property).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from glassline.semconv import attributes as attrs

__all__ = [
    "Counts",
    "ResponseInfo",
    "StreamAccumulator",
    "extract_response",
    "get",
    "usage_counts",
    "view",
]


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


def _int(value: Any) -> int | None:
    return value if type(value) is int else None  # exact type: bool is not a count


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
        if self.model is not None:
            out[attrs.GEN_AI_RESPONSE_MODEL] = self.model
        if self.response_id is not None:
            out[attrs.GEN_AI_RESPONSE_ID] = self.response_id
        if self.input_tokens is not None:
            out[attrs.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            out[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.cache_read is not None:
            out[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read
        if self.cache_creation is not None:
            out[attrs.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = self.cache_creation
        if self.reasoning is not None:
            out[attrs.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning
        if self.finish_reasons:
            out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = self.finish_reasons
        return out

    def read_usage(self, usage: Any, exclusive_input: bool = False) -> None:
        """Fill token counts from an OpenAI, Responses, Anthropic or LiteLLM usage block.

        ``exclusive_input``: see :func:`usage_counts`.
        """
        if usage is None:
            return
        inp, out, read, creation, reasoning = usage_counts(usage, exclusive_input)
        if read is not None:
            self.cache_read = read
        if creation is not None:
            self.cache_creation = creation
        if inp is not None:
            self.input_tokens = inp
        if out is not None:
            self.output_tokens = out
        if reasoning is not None:
            self.reasoning = reasoning


Counts = tuple[int | None, int | None, int | None, int | None, int | None]


def usage_counts(usage: Any, exclusive_input: bool = False) -> Counts:
    """(input, output, cache read, cache creation, reasoning) tokens of a usage block.

    Reads OpenAI chat, Responses, Anthropic and LiteLLM usage; a count that is absent or not
    an int (bool is not a count) is None. ``exclusive_input``: Anthropic reports
    ``input_tokens`` WITHOUT the cached tokens; the conventions want them included, so they
    are added back here.
    """
    # Runs on every LLM span: one pass, exact-type checks inline.
    u = usage if type(usage) is dict else view(usage)
    prompt = u.get("prompt_tokens")
    is_prompt = type(prompt) is int
    if is_prompt:  # chat completions and LiteLLM
        inp: Any = prompt
        out = u.get("completion_tokens")
        in_d, out_d = u.get("prompt_tokens_details"), u.get("completion_tokens_details")
    else:  # Responses API and Anthropic
        inp, out = u.get("input_tokens"), u.get("output_tokens")
        in_d, out_d = u.get("input_tokens_details"), u.get("output_tokens_details")
    if in_d is not None and type(in_d) is not dict:
        in_d = view(in_d)
    read = u.get("cache_read_input_tokens")
    if type(read) is not int:
        read = in_d.get("cached_tokens") if in_d is not None else None
        if type(read) is not int:
            read = None
    creation = u.get("cache_creation_input_tokens")
    if type(creation) is not int:
        creation = in_d.get("cache_creation_tokens") if in_d is not None else None
        if type(creation) is not int:
            creation = None
    if type(inp) is int:
        if exclusive_input and not is_prompt:
            inp += (read or 0) + (creation or 0)
    else:
        inp = None
    reasoning = None
    if out_d is not None:
        reasoning = (out_d if type(out_d) is dict else view(out_d)).get("reasoning_tokens")
        if type(reasoning) is not int:
            reasoning = None
    return inp, out if type(out) is int else None, read, creation, reasoning


def extract_response(value: Any) -> ResponseInfo:
    """Read a complete (non-streamed) response of any understood shape."""
    info = ResponseInfo()
    if type(value) is dict:
        v: Mapping[str, Any] | _AttrView = value
    elif value is None or isinstance(value, str | bytes | int | float | bool):
        return info
    else:
        v = view(value)
    model, rid = v.get("model"), v.get("id")
    info.model = model if type(model) is str or isinstance(model, str) else None
    info.response_id = rid if type(rid) is str or isinstance(rid, str) else None
    choices = v.get("choices")
    if type(choices) is list:  # chat completions (OpenAI, LiteLLM): checked first, most common
        _read_chat(info, choices)
        info.read_usage(v.get("usage"))
    elif v.get("type") == "message":
        _read_anthropic(info, value)
    elif v.get("object") == "response" or v.get("output") is not None:
        _read_responses_api(info, value)
    else:
        info.read_usage(v.get("usage"))
    return info


def _read_chat(info: ResponseInfo, choices: list[Any]) -> None:
    # Runs on every chat span: dicts and pydantic fields are read without the generic accessor.
    for choice in choices:
        c = choice if type(choice) is dict else view(choice)
        reason = c.get("finish_reason")
        if type(reason) is str or isinstance(reason, str):
            info.finish_reasons.append(reason)
        message = c.get("message")
        m = message if type(message) is dict else view(message)
        content = m.get("content")
        if type(content) is str or isinstance(content, str):
            info.text.append(content)
        else:
            legacy = c.get("text")  # legacy completions
            if isinstance(legacy, str):
                info.text.append(legacy)
        tool_calls = m.get("tool_calls")
        if tool_calls:
            _read_tool_calls(info, tool_calls)


def _read_tool_calls(info: ResponseInfo, tool_calls: Any) -> None:
    for call in tool_calls:
        function = get(call, "function")
        info.tool_calls.append(
            {
                "id": get(call, "id"),
                "name": get(function, "name"),
                "arguments": get(function, "arguments"),
            }
        )


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
    """Folds stream chunks/events into one :class:`ResponseInfo`.

    The reader is chosen once per stream, by the first chunk (:meth:`reader_for`): text, an
    event stream (Anthropic, the Responses API, openai's ``stream()`` helper), or chat
    completion chunks, as dicts or objects, or as pydantic models (the openai and LiteLLM
    clients'). Each reader then runs once per chunk: one frame per streamed token.
    """

    __slots__ = ("first_ns", "info", "reader")

    def __init__(self) -> None:
        self.info = ResponseInfo()
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
            self.info.text.append(chunk)

    # The two chat chunk readers differ only in how a chunk, choice and delta are read; the
    # rest is written out in each (a helper call per chunk costs as much as the reading).
    def _add_chunk(self, chunk: Any) -> None:
        """A chat completion chunk as a dict (or any object, read through :func:`view`)."""
        fields = chunk if type(chunk) is dict else view(chunk)
        info = self.info
        if info.model is None:  # every chunk repeats them: read them once
            self._read_header(fields)
        for choice in fields.get("choices") or ():
            choice_fields = choice if type(choice) is dict else view(choice)
            delta = choice_fields.get("delta")
            content = (delta if type(delta) is dict else view(delta)).get("content")
            if type(content) is str:
                info.text.append(content)
            reason = choice_fields.get("finish_reason")
            if reason is not None and isinstance(reason, str):
                info.finish_reasons.append(reason)
        usage = fields.get("usage")
        if usage is not None:  # sent on the last chunk with stream_options.include_usage
            info.read_usage(usage)

    def _add_model_chunk(self, chunk: Any) -> None:
        """A chat completion chunk as a pydantic model: its fields are its ``__dict__`` (extras
        merged, through :func:`view`, only when it has some), and so for its choices and delta.
        """
        fields = chunk.__dict__ if not chunk.__pydantic_extra__ else view(chunk)
        info = self.info
        if info.model is None:
            self._read_header(fields)
        for choice in fields.get("choices") or ():
            choice_fields = choice.__dict__ if not choice.__pydantic_extra__ else view(choice)
            delta = choice_fields.get("delta")
            if delta is not None:
                delta_fields = delta.__dict__ if not delta.__pydantic_extra__ else view(delta)
                content = delta_fields.get("content")
                if type(content) is str:
                    info.text.append(content)
            reason = choice_fields.get("finish_reason")
            if reason is not None and isinstance(reason, str):
                info.finish_reasons.append(reason)
        usage = fields.get("usage")
        if usage is not None:
            info.read_usage(usage)

    def _read_header(self, fields: Mapping[str, Any] | _AttrView) -> None:
        model, response_id = fields.get("model"), fields.get("id")
        self.info.model = model if isinstance(model, str) else None
        self.info.response_id = response_id if isinstance(response_id, str) else None

    def _add_event(self, event: Any) -> None:
        """An event of Anthropic's or the Responses API's stream, or of openai's helper."""
        info = self.info
        kind = get(event, "type")
        if kind == "chunk":  # openai's chat.completions.stream() helper wraps each raw chunk
            inner = get(event, "chunk")
            if inner is not None:
                self._add_chunk(inner)
        elif kind == "message_start":  # Anthropic
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
