"""OpenInference (Arize Phoenix) -> Glassline.

Names from ``openinference.semconv.trace.SpanAttributes``. ``llm.token_count.prompt`` is the
whole prompt, cached tokens included (as its OpenAI and Anthropic instrumentations report it);
``prompt_details.cache_read`` / ``cache_write`` are the cached parts.
"""

from __future__ import annotations

import json
from typing import Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.semconv import attributes as a
from glassline.semconv.attributes import Operations, SpanKinds

from ._messages import MessagePrefix
from ._values import Hints, Rename, Source, as_list, json_object, to_amount
from .otel import provider_value

MARKER: Final = "openinference.span.kind"

RENAMES: Final[dict[str, Rename]] = {
    "llm.request.model_name": Rename(a.GEN_AI_REQUEST_MODEL, 15),
    "llm.response.model_name": Rename(a.GEN_AI_RESPONSE_MODEL, 15),
    "llm.model_name": Rename(a.GEN_AI_REQUEST_MODEL, 20),
    "embedding.model_name": Rename(a.GEN_AI_REQUEST_MODEL, 25),
    "llm.provider": Rename(a.GEN_AI_PROVIDER_NAME, 20, provider_value),
    "llm.system": Rename(a.GEN_AI_PROVIDER_NAME, 25, provider_value),
    "llm.token_count.prompt": Rename(a.GEN_AI_USAGE_INPUT_TOKENS, 20),
    "llm.token_count.completion": Rename(a.GEN_AI_USAGE_OUTPUT_TOKENS, 20),
    "llm.token_count.prompt_details.cache_read": Rename(a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 20),
    "llm.token_count.prompt_details.cache_input": Rename(
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 30
    ),
    "llm.token_count.prompt_details.cache_write": Rename(
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 20
    ),
    "llm.token_count.completion_details.reasoning": Rename(
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 20
    ),
    "llm.cost.total": Rename(a.COST_USD, 20),
    "llm.finish_reason": Rename(a.GEN_AI_RESPONSE_FINISH_REASONS, 20, as_list),
    "tool.name": Rename(a.GEN_AI_TOOL_NAME, 20),
    "tool.id": Rename(a.GEN_AI_TOOL_CALL_ID, 20),
    "llm.prompt_template.version": Rename(a.PROMPT_VERSION, 20),
}

MESSAGE_PREFIXES: Final[dict[str, MessagePrefix]] = {
    "llm.input_messages.": MessagePrefix(a.GEN_AI_INPUT_MESSAGES, "user", "message."),
    "llm.output_messages.": MessagePrefix(a.GEN_AI_OUTPUT_MESSAGES, "assistant", "message."),
    # Completions API: llm.prompts.N.prompt.text / llm.choices.N.completion.text
    "llm.prompts.": MessagePrefix(a.GEN_AI_INPUT_MESSAGES, "user", "prompt."),
    "llm.choices.": MessagePrefix(a.GEN_AI_OUTPUT_MESSAGES, "assistant", "completion."),
}

# openinference.span.kind -> (Glassline kind, operation, is a named pipeline stage)
_KINDS: Final[dict[str, tuple[str, str | None, bool]]] = {
    "LLM": (SpanKinds.LLM, Operations.CHAT, False),
    "EMBEDDING": (SpanKinds.LLM, Operations.EMBEDDINGS, False),
    "TOOL": (SpanKinds.TOOL, Operations.EXECUTE_TOOL, False),
    "AGENT": (SpanKinds.STAGE, Operations.INVOKE_AGENT, True),
    "CHAIN": (SpanKinds.STAGE, None, True),
    "RETRIEVER": (SpanKinds.STAGE, None, True),
    "RERANKER": (SpanKinds.STAGE, None, True),
    "GUARDRAIL": (SpanKinds.STAGE, None, True),
    "EVALUATOR": (SpanKinds.OTHER, None, False),
    "PROMPT": (SpanKinds.OTHER, None, False),
    "UNKNOWN": (SpanKinds.OTHER, None, False),
}

_INVOCATION_PARAMETERS: Final = {
    "temperature": a.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": a.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": a.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": a.GEN_AI_REQUEST_TOP_P,
    "stream": a.GEN_AI_REQUEST_STREAM,
}


def hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """Kind, stage and operation from ``openinference.span.kind``; I/O and parameters."""
    raw = attrs.get(MARKER)
    kind, operation, is_stage = _KINDS.get(str(raw).upper(), (SpanKinds.OTHER, None, False))
    _invocation_parameters(attrs)
    _prompt_and_completion_cost(attrs)
    if kind == SpanKinds.TOOL:
        _move(attrs, "input.value", a.GEN_AI_TOOL_CALL_ARGUMENTS)
        _move(attrs, "output.value", a.GEN_AI_TOOL_CALL_RESULT)
    elif kind == SpanKinds.LLM:
        _plain_text_as_message(attrs, "input", a.GEN_AI_INPUT_MESSAGES, "user")
        _plain_text_as_message(attrs, "output", a.GEN_AI_OUTPUT_MESSAGES, "assistant")
    return Hints(kind=kind, stage=record.name if is_stage else None, operation=operation)


def _invocation_parameters(attrs: dict[str, AttributeValue]) -> None:
    params = json_object(attrs.get("llm.invocation_parameters"))
    if not params:
        return
    for key, canonical in _INVOCATION_PARAMETERS.items():
        value = params.get(key)
        if isinstance(value, (int, float, bool)) and canonical not in attrs:
            attrs[canonical] = value


def _prompt_and_completion_cost(attrs: dict[str, AttributeValue]) -> None:
    """No ``llm.cost.total``: the client's prompt + completion costs are its total."""
    if a.COST_USD in attrs:
        return
    prompt = to_amount(attrs.get("llm.cost.prompt"))
    completion = to_amount(attrs.get("llm.cost.completion"))
    if prompt is not None or completion is not None:
        attrs[a.COST_USD] = (prompt or 0.0) + (completion or 0.0)


def _move(attrs: dict[str, AttributeValue], source: str, target: str) -> None:
    if source in attrs and target not in attrs:
        attrs[target] = attrs.pop(source)


def _plain_text_as_message(
    attrs: dict[str, AttributeValue], side: str, target: str, role: str
) -> None:
    """A plain-text ``input.value`` on an LLM span is one message; JSON request bodies stay."""
    value = attrs.get(f"{side}.value")
    mime = attrs.get(f"{side}.mime_type", "text/plain")
    if target in attrs or not isinstance(value, str) or mime != "text/plain":
        return
    message = {"role": role, "parts": [{"type": "text", "content": value}]}
    attrs[target] = json.dumps([message], ensure_ascii=False, separators=(",", ":"))
    del attrs[f"{side}.value"]


SOURCE: Final = Source("openinference", RENAMES, (MARKER,), hints, MESSAGE_PREFIXES)
