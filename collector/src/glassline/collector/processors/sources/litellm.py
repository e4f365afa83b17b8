"""LiteLLM's own OpenTelemetry callback (``litellm.callbacks = ["otel"]``) -> Glassline.

Its ``litellm_request`` span writes the GenAI conventions' names for the model, the input and
output counts (input includes cache, as LiteLLM's ``prompt_tokens`` always does, Anthropic's
too) and the messages; its extras are:

* The cached and reasoning counts travel only inside ``metadata.usage_object``: LiteLLM's usage
  object as Python's ``str()`` of a dict (single quotes, ``None``), not JSON. Cache reads are
  ``prompt_tokens_details.cached_tokens``, cache writes ``prompt_tokens_details.
  cache_creation_tokens`` (Anthropic), reasoning ``completion_tokens_details.reasoning_tokens``.
* Its own price is ``gen_ai.cost.total_cost`` (``gen_ai.cost.input_cost``, ``output_cost``,
  ... beside it stay as they are).
* ``llm.request.type`` is LiteLLM's call type (``completion``, ``acompletion``), not the kind of
  call OpenLLMetry means by it; ``gen_ai.operation.name`` says ``chat``.
"""

from __future__ import annotations

import ast
from typing import Any, Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.semconv import attributes as a

from ._values import Hints, Rename, Source, nested_usage, to_count

MARKER: Final = "litellm.call_id"
USAGE: Final = "metadata.usage_object"
# A usage object is a few hundred characters; anything far longer is not one.
_MAX_USAGE_CHARS: Final = 8192

RENAMES: Final[dict[str, Rename]] = {
    "gen_ai.cost.total_cost": Rename(a.COST_USD, 20),
}


def hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """Cached and reasoning counts from ``metadata.usage_object``, where the span lacks them."""
    usage = _python_dict(attrs.get(USAGE))
    if usage is None:
        return Hints()
    cached, reasoning = nested_usage(usage)
    details = usage.get("prompt_tokens_details")
    written = to_count(details.get("cache_creation_tokens")) if isinstance(details, dict) else None
    for name, count in (
        (a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cached),
        (a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, written),
        (a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, reasoning),
    ):
        if count and name not in attrs:
            attrs[name] = count
    return Hints()


def _python_dict(value: object) -> dict[str, Any] | None:
    """A dict from its Python ``str()``; ``literal_eval`` builds literals only, never runs code."""
    if not isinstance(value, str) or not value.startswith("{") or len(value) > _MAX_USAGE_CHARS:
        return None
    try:
        decoded = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


SOURCE: Final = Source("litellm", RENAMES, (MARKER,), hints)
