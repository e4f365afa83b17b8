"""OpenTelemetry GenAI conventions: older attribute names and provider values.

The conventions renamed several attributes between releases (``gen_ai.system`` became
``gen_ai.provider.name``, ``gen_ai.usage.prompt_tokens`` became ``gen_ai.usage.input_tokens``,
``gen_ai.usage.cache_read_input_tokens`` became ``gen_ai.usage.cache_read.input_tokens``) and
some provider values (``az.ai.openai`` -> ``azure.ai.openai``). Older and current names both
count input tokens INCLUDING cached ones.
"""

from __future__ import annotations

from typing import Final

from glassline.collector.records import AttributeValue
from glassline.semconv import attributes as a

from ._values import Rename, Source, to_text

# Old or library-specific provider spellings -> the conventions' well-known values.
PROVIDER_VALUES: Final[dict[str, str]] = {
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "google.ai.studio": "gcp.gen_ai",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "ibm.watson.ai": "ibm.watsonx.ai",
}


def provider_value(value: AttributeValue) -> AttributeValue:
    """Lower-case a provider name and map old spellings to the current well-known value."""
    text = to_text(value)
    if text is None:
        return None
    lowered = text.lower()
    return PROVIDER_VALUES.get(lowered, lowered)


RENAMES: Final[dict[str, Rename]] = {
    a.GEN_AI_SYSTEM: Rename(a.GEN_AI_PROVIDER_NAME, 10, provider_value),
    a.GEN_AI_USAGE_PROMPT_TOKENS: Rename(a.GEN_AI_USAGE_INPUT_TOKENS, 10),
    a.GEN_AI_USAGE_COMPLETION_TOKENS: Rename(a.GEN_AI_USAGE_OUTPUT_TOKENS, 10),
    "gen_ai.usage.cache_read_input_tokens": Rename(a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 10),
    "gen_ai.usage.cache_creation_input_tokens": Rename(a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 10),
    # Renamed cache_write in the current conventions; both spellings are read.
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Rename(a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, 5),
}

# Operation names by the kind of span they make: the conventions' values plus older and
# OpenLIT's own ones.
LLM_OPERATIONS: Final = a.LLM_OPERATIONS | {"completion", "image", "audio"}
TOOL_OPERATIONS: Final = a.TOOL_OPERATIONS
AGENT_OPERATIONS: Final = a.STAGE_OPERATIONS | {"agent", "execute_task"}

SOURCE: Final = Source("otel", RENAMES)
