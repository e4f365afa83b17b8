"""OpenLIT -> Glassline.

Names from ``openlit.semcov.SemanticConvention``. OpenLIT mostly writes the GenAI conventions'
own names (``gen_ai.usage.input_tokens``, ``gen_ai.request.model``, ``gen_ai.system``); its
extras are the client-side cost ``gen_ai.usage.cost`` (USD), ``gen_ai.usage.reasoning_tokens``,
``gen_ai.server.time_to_first_token`` (seconds) and ``gen_ai.request.is_stream``. Operation
values such as ``agent`` or ``framework`` are its own; see ``otel.AGENT_OPERATIONS``.
"""

from __future__ import annotations

from typing import Final

from glassline.semconv import attributes as a

from ._values import Rename, Source, to_text

RENAMES: Final[dict[str, Rename]] = {
    "gen_ai.usage.cost": Rename(a.COST_USD, 30),
    # Also written by OpenLLMetry's newer instrumentations.
    "gen_ai.usage.reasoning_tokens": Rename(a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 30),
    "gen_ai.server.time_to_first_token": Rename(a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 30),
    "gen_ai.request.is_stream": Rename(a.GEN_AI_REQUEST_STREAM, 30),
    # OpenLIT sends an empty string when the call names no user: not a user id.
    "gen_ai.request.user": Rename(a.USER_ID, 60, to_text),
}

SOURCE: Final = Source("openlit", RENAMES)
