"""The Glassline vocabulary: every attribute name the SDK writes and the collector and dashboard read.

OpenTelemetry GenAI semantic conventions are used for everything they define; ``glassline.*``
names cover only what they lack (cost, stage, cache, route, retry, budget, tenant). This is
the one module that spells these names; the README's vocabulary table mirrors it.

Note the conventions' token arithmetic: ``gen_ai.usage.input_tokens`` INCLUDES the cache read
and cache creation tokens, so cost is computed on (input - cache_read - cache_creation) at the
input price plus each cache bucket at its own price, never counting cached tokens twice.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"  # includes cached tokens
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"  # includes reasoning tokens
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
# Per-modality counts: subsets of the input/output totals, kept as sent, never added to them.
GEN_AI_USAGE_TEXT_INPUT_TOKENS: Final = "gen_ai.usage.text.input_tokens"
GEN_AI_USAGE_IMAGE_INPUT_TOKENS: Final = "gen_ai.usage.image.input_tokens"
GEN_AI_USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
GEN_AI_USAGE_VIDEO_INPUT_TOKENS: Final = "gen_ai.usage.video.input_tokens"
GEN_AI_USAGE_TEXT_OUTPUT_TOKENS: Final = "gen_ai.usage.text.output_tokens"
GEN_AI_USAGE_IMAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.image.output_tokens"
GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: Final = "gen_ai.usage.audio.output_tokens"
GEN_AI_USAGE_VIDEO_OUTPUT_TOKENS: Final = "gen_ai.usage.video.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"  # JSON
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"  # JSON
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
# The conventions' event for a failed model call (a log record or a span event), carrying
# exception.type / exception.message.
GEN_AI_CLIENT_OPERATION_EXCEPTION: Final = "gen_ai.client.operation.exception"
# The evaluation event (a span event or a log record) and its attributes.
GEN_AI_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

# Older GenAI names still sent by many libraries; the collector maps them to the ones above.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"

# --- General OpenTelemetry conventions ----------------------------------------------------
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"

# --- Glassline extensions -----------------------------------------------------------------
SPAN_KIND: Final = "glassline.span.kind"  # one of SpanKinds below
TENANT_ID: Final = (
    "glassline.tenant.id"  # a hint only: the collector stamps the tenant from the key
)
# The name of the API key the collector authenticated the span's export with (auth.tenants);
# stamped by the collector, never read from the payload, never the key itself.
API_KEY_NAME: Final = "glassline.api_key.name"
STAGE: Final = "glassline.stage"  # propagated to every span under a @stage
WORKFLOW: Final = "glassline.workflow"  # propagated to every span under a @workflow
COST_USD: Final = "glassline.cost.usd"
COST_SOURCE: Final = "glassline.cost.source"  # "client", "sdk", "collector"
# A client's cost that is not a price (0, negative or NaN next to tokens), kept as sent while
# the collector prices the call from the table.
COST_CLIENT_USD: Final = "glassline.cost.client_usd"
TIME_TO_FIRST_CHUNK_MS: Final = "glassline.time_to_first_chunk_ms"

CACHE_LAYER: Final = "glassline.cache.layer"
CACHE_HIT: Final = "glassline.cache.hit"
CACHE_KEY_HASH: Final = "glassline.cache.key_hash"
CACHE_SIMILARITY: Final = "glassline.cache.similarity"

ROUTE_CHOSEN: Final = "glassline.route.chosen"
ROUTE_CANDIDATES: Final = "glassline.route.candidates"
ROUTE_REASON: Final = "glassline.route.reason"
ROUTE_FALLBACK_FROM: Final = "glassline.route.fallback_from"
# The event on the span where a route was decided; later spans only inherit the attributes,
# so the collector counts a fallback once, on the span that carries this event.
ROUTE_EVENT: Final = "glassline.route"

RETRY_ATTEMPT: Final = "glassline.retry.attempt"  # on each attempt span, 1-based
RETRY_REASON: Final = "glassline.retry.reason"
RETRY_BACKOFF_MS: Final = "glassline.retry.backoff_ms"
RETRY_COUNT: Final = "glassline.retry.count"  # on the parent: retries made (attempts - 1)
RETRY_OUTCOME: Final = "glassline.retry.outcome"  # "success" | "exhausted" | "not_retryable"

PROMPT_NAME: Final = "glassline.prompt.name"  # the prompt template's name
PROMPT_VERSION: Final = "glassline.prompt.version"  # and its version ("v7")

BUDGET_NAME: Final = "glassline.budget.name"
BUDGET_STATE: Final = "glassline.budget.state"
BUDGET_DECISION: Final = "glassline.budget.decision"  # "allow" | "degrade" | "deny"
BUDGET_REASON: Final = "glassline.budget.reason"
BUDGET_ESTIMATED_COST_USD: Final = "glassline.budget.estimated_cost_usd"  # before the call
BUDGET_PREVENTED_USD: Final = "glassline.budget.prevented_usd"  # estimate of a denied call
BUDGET_TRIMMED_MESSAGES: Final = "glassline.budget.trimmed_messages"  # cut to fit the cap

# The name of the span the SDK sends with the count of spans it lost, and that count's attribute.
SDK_DROPPED_SPANS: Final = "glassline.sdk.dropped_spans"

SAMPLING_POLICY: Final = "glassline.sampling.policy"
# {ENTITY: count} of what the collector redacted in a span (no values)
REDACTION_ENTITIES: Final = "glassline.redaction.entities"
TRUNCATED_PREFIX: Final = (
    "glassline.truncated."  # glassline.truncated.<attribute> = original length
)


class SpanKinds:
    """Values of :data:`SPAN_KIND`."""

    WORKFLOW: Final = "workflow"
    STAGE: Final = "stage"
    LLM: Final = "llm"
    TOOL: Final = "tool"
    RETRY_ATTEMPT: Final = "retry_attempt"
    OTHER: Final = "other"

    ALL: Final = (WORKFLOW, STAGE, LLM, TOOL, RETRY_ATTEMPT, OTHER)  # every kind a span is given


class Operations:
    """Values of :data:`GEN_AI_OPERATION_NAME` used by the SDK."""

    CHAT: Final = "chat"
    TEXT_COMPLETION: Final = "text_completion"
    EMBEDDINGS: Final = "embeddings"
    EXECUTE_TOOL: Final = "execute_tool"
    INVOKE_AGENT: Final = "invoke_agent"


# Operation values of the current conventions, by the kind of span they make.
LLM_OPERATIONS: Final = frozenset({"chat", "text_completion", "embeddings", "generate_content"})
TOOL_OPERATIONS: Final = frozenset(
    {
        "execute_tool",
        "retrieval",
        "search_memory",
        "create_memory",
        "update_memory",
        "upsert_memory",
        "delete_memory",
        "create_memory_store",
        "delete_memory_store",
    }
)
STAGE_OPERATIONS: Final = frozenset(
    {
        "invoke_agent",
        "create_agent",
        "invoke_workflow",
        "plan",
        "handle_conversation_turn",
        "gen_ai.invocation.internal",
    }
)
