"""The ``@llm`` span: request parameters, response extraction, streaming, cost, content."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from glassline.instrumentation import _content, _settings
from glassline.instrumentation._chat import chat_attributes
from glassline.instrumentation._cost import put_cost
from glassline.instrumentation._extract import Reading, StreamAccumulator, read_response, view
from glassline.semconv import attributes as attrs

__all__ = ["LLMHandler", "response_attributes"]

_MAX_TOKENS_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_SYSTEM_KEYS = ("system", "instructions")
_SYSTEM_KEYS_SET = frozenset(_SYSTEM_KEYS)
_REQUEST_KEYS = frozenset(("temperature", "top_p", *_MAX_TOKENS_KEYS, "stream"))


_NUMBER = (int, float)


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling parameters from the call's keyword arguments (exact types: bool is no number)."""
    out: dict[str, Any] = {}
    temperature: Any = kwargs.get("temperature")
    if type(temperature) in _NUMBER:
        out[attrs.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    top_p: Any = kwargs.get("top_p")
    if type(top_p) in _NUMBER:
        out[attrs.GEN_AI_REQUEST_TOP_P] = float(top_p)
    for key in _MAX_TOKENS_KEYS:
        value = kwargs.get(key)
        if type(value) is int:
            out[attrs.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    stream = kwargs.get("stream")
    if type(stream) is bool:
        out[attrs.GEN_AI_REQUEST_STREAM] = stream
    return out


class LLMHandler:
    """Hooks for one ``@llm`` call."""

    __slots__ = ("acc", "claimed", "model", "name", "operation", "provider", "settings", "t0_ns")

    def __init__(self, provider: str | None, model: str | None, operation: str = "chat") -> None:
        self.provider = provider
        self.model = model
        self.operation = operation
        self.name: str | None = None  # ``{operation} {model}`` when the call names its model
        self.settings = _settings.STATE.settings
        self.acc: StreamAccumulator | None = None
        self.t0_ns = 0
        # A hooked client call reports (or reported) its response onto this span: the
        # function's return value is then not read (it may be anything, or that response).
        self.claimed = False

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        # Few calls on purpose: on a cold cache each Python call costs about its body again.
        model = kwargs.get("model")
        if isinstance(model, str) and model:
            self.model = model
            self.name = f"{self.operation} {model}"
        # Most calls pass only model and messages: no dict lookups for absent parameters.
        out = {} if _REQUEST_KEYS.isdisjoint(kwargs) else request_attributes(kwargs)
        if self.model:
            out[attrs.GEN_AI_REQUEST_MODEL] = self.model
        settings = self.settings
        if not kwargs or not settings.capture_content:
            return out
        # put_input_messages's own fast path, written out (a call each); when it does not apply,
        # the general path tries it again, but that only costs a glance at the first message.
        plain = None
        if settings.redactor is None:
            plain = _content.plain_messages_json(kwargs.get("messages"), settings.max_content_chars)
        if plain is not None:
            out[attrs.GEN_AI_INPUT_MESSAGES] = plain
        else:
            _content.put_input_messages(out, kwargs, settings)
        if not _SYSTEM_KEYS_SET.isdisjoint(kwargs):
            self._capture_system(out, kwargs)
        return out

    def _capture_system(self, out: dict[str, Any], kwargs: Mapping[str, Any]) -> None:
        for key in _SYSTEM_KEYS:
            system = kwargs.get(key)
            if system is not None:
                clean = _content.Texts(self.settings)
                value = _content.parts_json(system, clean)
                _content.put_json(out, attrs.GEN_AI_SYSTEM_INSTRUCTIONS, value, clean)
                break

    def result(self, value: Any) -> dict[str, Any]:
        if self.claimed:
            return {}
        # response_attributes's first case told here: a chat completion, the commonest.
        fields = value if type(value) is dict else view(value)
        choices = fields.get("choices")
        if type(choices) is list:
            return chat_attributes(
                fields,
                choices,
                provider=self.provider,
                request_model=self.model,
                settings=self.settings,
            )
        return response_attributes(
            value, provider=self.provider, request_model=self.model, settings=self.settings
        )

    def stream(self, t0_ns: int, first: Any) -> Callable[[Any], None] | None:
        if self.claimed:
            return None
        # Chunks go straight to the reader for the stream's shape: one frame per token.
        self.t0_ns = t0_ns
        self.acc = StreamAccumulator()
        return self.acc.reader_for(first)

    def stream_end(self, final: Any = None) -> dict[str, Any]:
        if self.claimed:
            return {}
        acc = self.acc if self.acc is not None and self.acc.first_ns else None
        if final is not None:  # a stream helper's own snapshot of the whole response
            out = response_attributes(
                final, provider=self.provider, request_model=self.model, settings=self.settings
            )
        elif acc is not None:
            out = reading_attributes(
                acc.reading,
                provider=self.provider,
                request_model=self.model,
                settings=self.settings,
            )
        else:
            return {}
        if acc is not None:
            ttfc_ns = acc.first_ns - self.t0_ns
            out[attrs.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc_ns / 1e9
            out[attrs.TIME_TO_FIRST_CHUNK_MS] = ttfc_ns / 1e6
        return out


def response_attributes(
    value: Any,
    *,
    provider: str | None,
    request_model: str | None,
    settings: _settings.Settings,
) -> dict[str, Any]:
    """The span attributes of a complete response, read by the reader of its shape."""
    fields = value if type(value) is dict else view(value)
    choices = fields.get("choices")
    if type(choices) is list:  # a chat completion, the commonest: told first
        return chat_attributes(
            fields, choices, provider=provider, request_model=request_model, settings=settings
        )
    return reading_attributes(
        read_response(value), provider=provider, request_model=request_model, settings=settings
    )


def reading_attributes(
    reading: Reading,
    *,
    provider: str | None,
    request_model: str | None,
    settings: _settings.Settings,
) -> dict[str, Any]:
    """The span attributes of a reading (a stream, a response other than a chat completion):
    what it said, its cost and (if enabled) its output, as ``chat_attributes`` writes them."""
    out = reading.attributes
    if reading.finish_reasons:
        out[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = reading.finish_reasons
    put_cost(out, provider=provider, request_model=request_model, settings=settings)
    if settings.capture_content and (reading.text or reading.tool_calls):
        _content.put_output_messages(
            out, reading.text, reading.tool_calls, reading.finish_reasons, settings
        )
    return out
