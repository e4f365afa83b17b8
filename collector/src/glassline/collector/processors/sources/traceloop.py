"""OpenLLMetry / Traceloop -> Glassline.

Names from ``opentelemetry.semconv_ai.SpanAttributes``. Its LLM instrumentations write
``gen_ai.usage.prompt_tokens`` INCLUDING cache reads and writes (the Anthropic instrumentation
adds ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` to ``input_tokens``) and the
cached parts as ``gen_ai.usage.cache_read_input_tokens`` / ``cache_creation_input_tokens``.
"""

from __future__ import annotations

from typing import Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.semconv import attributes as a
from glassline.semconv.attributes import Operations, SpanKinds

from ._messages import MessagePrefix
from ._values import Hints, Rename, Source, as_list, to_text

MARKERS: Final = ("traceloop.span.kind", "llm.request.type", "traceloop.entity.path")
_ASSOCIATION: Final = "traceloop.association.properties."

RENAMES: Final[dict[str, Rename]] = {
    "traceloop.workflow.name": Rename(a.WORKFLOW, 20),
    _ASSOCIATION + "user_id": Rename(a.USER_ID, 30, to_text),
    _ASSOCIATION + "session_id": Rename(a.SESSION_ID, 30, to_text),
    "llm.is_streaming": Rename(a.GEN_AI_REQUEST_STREAM, 30),
    "llm.response.finish_reason": Rename(a.GEN_AI_RESPONSE_FINISH_REASONS, 30, as_list),
    "llm.user": Rename(a.USER_ID, 60, to_text),
    # Traceloop's prompt registry (set on model-call spans): the key names the template, the
    # version is its number (version_name / version_hash stay as they are, on the span).
    "traceloop.prompt.key": Rename(a.PROMPT_NAME, 20),
    "traceloop.prompt.version": Rename(a.PROMPT_VERSION, 20),
}

MESSAGE_PREFIXES: Final[dict[str, MessagePrefix]] = {
    "gen_ai.prompt.": MessagePrefix(a.GEN_AI_INPUT_MESSAGES, "user"),
    "gen_ai.completion.": MessagePrefix(a.GEN_AI_OUTPUT_MESSAGES, "assistant"),
    # Releases before the gen_ai.* names; llm.prompts.N.* is shared with OpenInference's
    # completions-API prefix, whose "prompt." level is stripped there.
    "llm.completions.": MessagePrefix(a.GEN_AI_OUTPUT_MESSAGES, "assistant"),
}

# traceloop.span.kind -> (Glassline kind, operation, is a named pipeline stage)
_KINDS: Final[dict[str, tuple[str, str | None, bool]]] = {
    "workflow": (SpanKinds.WORKFLOW, None, False),
    "task": (SpanKinds.STAGE, None, True),
    "agent": (SpanKinds.STAGE, Operations.INVOKE_AGENT, True),
    "tool": (SpanKinds.TOOL, Operations.EXECUTE_TOOL, False),
    "unknown": (SpanKinds.OTHER, None, False),
}

# llm.request.type (set on model-call spans) -> operation
_REQUEST_TYPES: Final[dict[str, str]] = {
    "chat": Operations.CHAT,
    "completion": Operations.TEXT_COMPLETION,
    "embedding": Operations.EMBEDDINGS,
    "rerank": "rerank",
}


def hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """Kind from ``traceloop.span.kind`` (workflow/task/agent/tool) or ``llm.request.type``."""
    # Every span inside a @task carries the path of its enclosing tasks ("outer.inner"), so a
    # model call knows its stage even when its task span travels in another batch.
    path = to_text(attrs.get("traceloop.entity.path"))
    enclosing = path.rsplit(".", 1)[-1] if path else None
    request_type = to_text(attrs.get("llm.request.type"))
    if request_type is not None and request_type.lower() in _REQUEST_TYPES:
        llm_operation = _REQUEST_TYPES[request_type.lower()]
        return Hints(kind=SpanKinds.LLM, stage=enclosing, operation=llm_operation)
    raw = to_text(attrs.get("traceloop.span.kind"))
    kind, operation, is_stage = _KINDS.get((raw or "").lower(), (None, None, False))
    entity = to_text(attrs.get("traceloop.entity.name")) or record.name
    if kind == SpanKinds.TOOL:
        attrs.setdefault(a.GEN_AI_TOOL_NAME, entity)
        _move(attrs, "traceloop.entity.input", a.GEN_AI_TOOL_CALL_ARGUMENTS)
        _move(attrs, "traceloop.entity.output", a.GEN_AI_TOOL_CALL_RESULT)
    if kind == SpanKinds.WORKFLOW:
        attrs.setdefault(a.WORKFLOW, entity)
    return Hints(kind=kind, stage=entity if is_stage else enclosing, operation=operation)


def _move(attrs: dict[str, AttributeValue], source: str, target: str) -> None:
    if source in attrs and target not in attrs:
        attrs[target] = attrs.pop(source)


SOURCE: Final = Source("traceloop", RENAMES, MARKERS, hints, MESSAGE_PREFIXES)
