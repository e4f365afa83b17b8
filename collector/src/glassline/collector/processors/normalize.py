"""Normalize: spans from any LLM instrumentation into the one Glassline vocabulary.

For each span the attributes are walked once: names known from another library are renamed to
the canonical ones of :mod:`glassline.semconv.attributes` (a canonical name already on
the span wins), flattened message lists are folded into ``gen_ai.input.messages`` /
``gen_ai.output.messages``, and everything unknown is kept as it is. Then the typed fields of
:class:`SpanRecord` are filled from the canonical attributes. The tables live in
:mod:`.sources`, one module per library; the README's normalization table mirrors them.

Rules that hold for every source:

* ``gen_ai.usage.input_tokens`` INCLUDES cache reads and writes. A source whose input count
  evidently excludes them (smaller than the cached parts, or a total that only adds up without
  them) gets them added, so cached tokens are counted once, never twice, never lost.
* Numbers arrive as strings, floats, NaN or negatives: coerced when meaningful, else ignored.
* A cost sent by the client is kept, marked ``glassline.cost.source = "client"``, unless it is
  no price (0, negative or NaN next to tokens): then it is kept as ``glassline.cost.client_usd``
  and the call is priced from the table.
* Cache breakdowns count only on model calls: an agent span's cache figures (the conventions
  dropped them there) never reach the typed fields that rollups add up.
* The tenant is never read from attributes; ``record.tenant`` is stamped from the API key.
* A root span of no recognisable kind is the ``workflow``.
"""

from __future__ import annotations

import logging
from typing import Final

from glassline.collector.records import AttributeValue, SpanRecord
from glassline.redaction import jsontext
from glassline.semconv import attributes as a
from glassline.semconv.attributes import SpanKinds

from . import sources
from .sources import _messages
from .sources._values import Hints, to_amount, to_count, to_text
from .versions import prompt_of, service_version_of

__all__ = ["NormalizeProcessor", "normalize_span"]

_log = logging.getLogger(__name__)

_KINDS: Final = frozenset(SpanKinds.ALL)
_TOKEN_ATTRIBUTES: Final = (
    a.GEN_AI_USAGE_INPUT_TOKENS,
    a.GEN_AI_USAGE_OUTPUT_TOKENS,
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
)
# Totals that some sources send; used only to tell whether their input count includes cache.
_TOTAL_ATTRIBUTES: Final = (
    "llm.usage.total_tokens",
    "llm.token_count.total",
    "gen_ai.usage.total_tokens",
)
_EXTENSIONS: Final = frozenset(
    {
        a.CACHE_LAYER,
        a.CACHE_HIT,
        a.ROUTE_CHOSEN,
        a.ROUTE_FALLBACK_FROM,
        a.RETRY_COUNT,
        a.TIME_TO_FIRST_CHUNK_MS,
        a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    }
)
_MAX_STAGE_DEPTH: Final = 64
_TRUE: Final = frozenset({"true", "1", "yes", "hit"})
_FALSE: Final = frozenset({"false", "0", "no", "miss"})


class NormalizeProcessor:
    """Rewrites every span of a batch into the Glassline vocabulary and fills its typed fields.

    Never raises on span content: a span that cannot be normalized is passed on as received
    and counted in :attr:`failures`.
    """

    name = "normalize"

    def __init__(self) -> None:
        self.failures = 0

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        for record in batch:
            try:
                normalize_span(record)
            except Exception:  # one odd span must not cost the batch
                self.failures += 1
                _log.warning(
                    "normalize: span %s/%s left as received", record.trace_id, record.span_id
                )
        _inherit_stages(batch)
        return batch


def normalize_span(record: SpanRecord) -> None:
    """Normalize one span in place (attributes and typed fields)."""
    attrs = _canonical_attributes(record.attributes)
    hints = _source_hints(attrs, record)
    if hints.name is not None:
        record.name = hints.name
    if hints.start_ns is not None:
        record.start_ns = hints.start_ns
    _reconcile_tokens(attrs)
    _clean_cost(attrs)
    if record.events:
        _exception_event(record, attrs)
    _finish_reasons(attrs)
    _fill_typed(record, attrs, hints)
    record.attributes = attrs


def _canonical_attributes(raw: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """One pass over the attributes: rename aliases, fold flattened messages, keep the rest."""
    out: dict[str, AttributeValue] = {}
    pending: list[tuple[int, str, AttributeValue, sources.Rename]] = []
    collected: _messages.Collected = {}
    renames, prefixes = sources.RENAMES, sources.MESSAGE_PREFIX_TUPLE
    for key, value in raw.items():
        rename = renames.get(key)
        if rename is not None:
            pending.append((rename.priority, key, value, rename))
        elif key.startswith(prefixes) and _collect(collected, key, value):
            continue
        else:
            out[key] = value
    if len(pending) > 1:
        pending.sort(key=lambda item: item[0])
    for _, key, value, rename in pending:
        new = rename.transform(value) if rename.transform is not None else value
        if rename.canonical in out or new is None:
            out[key] = value  # a canonical name or a better alias won; keep this one verbatim
        else:
            out[rename.canonical] = new
    for (target, role), fields in collected.items():
        if target not in out:
            out[target] = _messages.build_messages(fields, role)
    return out


def _collect(collected: _messages.Collected, key: str, value: AttributeValue) -> bool:
    for prefix, spec in sources.MESSAGE_PREFIXES.items():
        if key.startswith(prefix):
            return _messages.collect(collected, spec, key[len(prefix) :], value)
    return False


def _source_hints(attrs: dict[str, AttributeValue], record: SpanRecord) -> Hints:
    """Run the hints of every source with a marker on the span; the first answer wins."""
    merged = Hints()
    keys = attrs.keys()
    if keys.isdisjoint(sources.MARKERS):  # the SDK's spans carry no source's marker
        return merged
    for markers, hints in sources.HINTS:
        if not keys.isdisjoint(markers):
            hint = hints(attrs, record)
            merged.kind = merged.kind or hint.kind
            merged.stage = merged.stage or hint.stage
            merged.operation = merged.operation or hint.operation
            merged.name = merged.name or hint.name
            merged.start_ns = merged.start_ns or hint.start_ns
    return merged


def _reconcile_tokens(attrs: dict[str, AttributeValue]) -> None:
    """Clean token counts, and make input include cache (output include reasoning) once."""
    counts: dict[str, int | None] = {}
    for name in _TOKEN_ATTRIBUTES:
        if name in attrs:
            counts[name] = to_count(attrs[name])
            if counts[name] is None:
                del attrs[name]  # a wrong-typed count is ignored, not stored as a number
    inp = counts.get(a.GEN_AI_USAGE_INPUT_TOKENS)
    out = counts.get(a.GEN_AI_USAGE_OUTPUT_TOKENS)
    cached = (counts.get(a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) or 0) + (
        counts.get(a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS) or 0
    )
    if inp is not None and cached and _input_excludes_cache(attrs, inp, out, cached):
        counts[a.GEN_AI_USAGE_INPUT_TOKENS] = inp + cached
    reasoning = counts.get(a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS) or 0
    if out is not None and out < reasoning:
        counts[a.GEN_AI_USAGE_OUTPUT_TOKENS] = out + reasoning
    for name, count in counts.items():
        if count is not None:
            attrs[name] = count


def _input_excludes_cache(
    attrs: dict[str, AttributeValue], inp: int, out: int | None, cached: int
) -> bool:
    if inp < cached:  # an inclusive count can never be smaller than its cached part
        return True
    for name in _TOTAL_ATTRIBUTES:
        total = to_count(attrs.get(name))
        if total is not None:
            return total == inp + (out or 0) + cached
    return False


def _clean_cost(attrs: dict[str, AttributeValue]) -> None:
    """Keep a client-sent cost as a clean float, marked with where it came from.

    A client's 0 (or negative, or NaN) next to tokens is no price: OpenLIT sends 0 whenever it
    could not download its price list. It is kept beside as ``glassline.cost.client_usd`` and
    the span is left unpriced, so enrichment prices it from the table.
    """
    if a.COST_USD not in attrs:
        return
    raw = attrs[a.COST_USD]
    cost = to_amount(raw)
    source = to_text(attrs.get(a.COST_SOURCE))
    if not cost and source in (None, "client") and _has_tokens(attrs):
        attrs[a.COST_CLIENT_USD] = raw
        del attrs[a.COST_USD]
        attrs.pop(a.COST_SOURCE, None)
        return
    if cost is None:
        del attrs[a.COST_USD]
        return
    attrs[a.COST_USD] = cost
    if source is None:
        attrs[a.COST_SOURCE] = "client"


def _has_tokens(attrs: dict[str, AttributeValue]) -> bool:
    return bool(attrs.get(a.GEN_AI_USAGE_INPUT_TOKENS) or attrs.get(a.GEN_AI_USAGE_OUTPUT_TOKENS))


def _exception_event(record: SpanRecord, attrs: dict[str, AttributeValue]) -> None:
    """The conventions' ``gen_ai.client.operation.exception`` event names the error type."""
    for event in record.events:
        if event.name == a.GEN_AI_CLIENT_OPERATION_EXCEPTION:
            kind = to_text(event.attributes.get("exception.type"))
            if kind is not None and a.ERROR_TYPE not in attrs:
                attrs[a.ERROR_TYPE] = kind
            return


def _finish_reasons(attrs: dict[str, AttributeValue]) -> None:
    """``gen_ai.response.finish_reasons`` from the output messages' own ``finish_reason``
    (older conventions put it on each message) when the span lacks the list."""
    output = attrs.get(a.GEN_AI_OUTPUT_MESSAGES)
    if (
        a.GEN_AI_RESPONSE_FINISH_REASONS in attrs
        or not isinstance(output, str)
        or '"finish_reason"' not in output
    ):
        return
    try:
        messages = jsontext.parse(output)
    except ValueError:
        return
    if isinstance(messages, list):
        reasons = [
            m["finish_reason"]
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("finish_reason"), str)
        ]
        if reasons:
            attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] = reasons


def _fill_typed(record: SpanRecord, attrs: dict[str, AttributeValue], hints: Hints) -> None:
    record.operation = to_text(attrs.get(a.GEN_AI_OPERATION_NAME)) or hints.operation
    if record.operation and a.GEN_AI_OPERATION_NAME not in attrs:
        attrs[a.GEN_AI_OPERATION_NAME] = record.operation
    provider = sources.otel.provider_value(attrs.get(a.GEN_AI_PROVIDER_NAME))
    record.provider = provider if isinstance(provider, str) else None
    if record.provider is not None:
        attrs[a.GEN_AI_PROVIDER_NAME] = record.provider
    record.model = to_text(attrs.get(a.GEN_AI_RESPONSE_MODEL)) or to_text(
        attrs.get(a.GEN_AI_REQUEST_MODEL)
    )
    record.user_id = to_text(attrs.get(a.USER_ID))
    record.session_id = to_text(attrs.get(a.SESSION_ID)) or to_text(
        attrs.get(a.GEN_AI_CONVERSATION_ID)
    )
    record.prompt_name, record.prompt_version = prompt_of(attrs)
    record.service_version = service_version_of(record.resource)
    _fill_tokens(record, attrs)
    cost = attrs.get(a.COST_USD)
    record.cost_usd = cost if isinstance(cost, float) else None
    _fill_extensions(record, attrs)
    record.kind = _kind(record, attrs, hints)
    attrs[a.SPAN_KIND] = record.kind
    if record.kind != SpanKinds.LLM:  # an agent's cache figures repeat its calls' own
        record.cache_read_tokens = record.cache_creation_tokens = 0
    stage = to_text(attrs.get(a.STAGE)) or hints.stage
    if stage is None and record.kind == SpanKinds.STAGE:
        # An agent or other stage span with no name of its own: its agent's name, else its own.
        stage = to_text(attrs.get(a.GEN_AI_AGENT_NAME)) or to_text(record.name)
    record.stage = None if record.kind == SpanKinds.WORKFLOW and not attrs.get(a.STAGE) else stage
    if record.stage is not None:
        attrs[a.STAGE] = record.stage
    if record.kind == SpanKinds.WORKFLOW and record.is_root and a.WORKFLOW not in attrs:
        attrs[a.WORKFLOW] = record.name


def _fill_tokens(record: SpanRecord, attrs: dict[str, AttributeValue]) -> None:
    def count(name: str) -> int:
        value = attrs.get(name)
        return value if isinstance(value, int) else 0

    record.input_tokens = count(a.GEN_AI_USAGE_INPUT_TOKENS)
    record.output_tokens = count(a.GEN_AI_USAGE_OUTPUT_TOKENS)
    record.cache_read_tokens = count(a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    record.cache_creation_tokens = count(a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
    record.reasoning_tokens = count(a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)


def _fill_extensions(record: SpanRecord, attrs: dict[str, AttributeValue]) -> None:
    """Cache, route, retries and time to first chunk (glassline.* extensions)."""
    if _EXTENSIONS.isdisjoint(attrs):  # most spans carry none of them
        record.cache_layer = record.cache_hit = record.route = record.ttft_ms = None
        record.fallback, record.retries = False, 0
        return
    record.cache_layer = to_text(attrs.get(a.CACHE_LAYER))
    record.cache_hit = _to_bool(attrs.get(a.CACHE_HIT))
    record.route = to_text(attrs.get(a.ROUTE_CHOSEN))
    # Once per decision: the SDK stamps the route on every later span of the call, but only
    # the span where it was decided carries the route event.
    record.fallback = to_text(attrs.get(a.ROUTE_FALLBACK_FROM)) is not None and any(
        e.name == a.ROUTE_EVENT for e in record.events
    )
    record.retries = to_count(attrs.get(a.RETRY_COUNT)) or 0
    ttft = to_amount(attrs.get(a.TIME_TO_FIRST_CHUNK_MS))
    if ttft is None:
        seconds = to_amount(attrs.get(a.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        ttft = None if seconds is None else seconds * 1000.0
    record.ttft_ms = ttft


def _kind(record: SpanRecord, attrs: dict[str, AttributeValue], hints: Hints) -> str:
    explicit = attrs.get(a.SPAN_KIND)
    if isinstance(explicit, str) and explicit in _KINDS:
        return explicit
    kind = hints.kind
    operation = record.operation
    if kind is None and operation is not None:
        if operation in sources.otel.LLM_OPERATIONS:
            kind = SpanKinds.LLM
        elif operation in sources.otel.TOOL_OPERATIONS:
            kind = SpanKinds.TOOL
        elif operation in sources.otel.AGENT_OPERATIONS:
            kind = SpanKinds.STAGE
    if kind is None and (record.model or record.input_tokens or record.output_tokens):
        kind = SpanKinds.LLM
    if record.is_root and kind in (None, SpanKinds.OTHER, SpanKinds.STAGE):
        return SpanKinds.WORKFLOW
    return kind or SpanKinds.OTHER


def _to_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def _inherit_stages(batch: list[SpanRecord]) -> None:
    """A span with no stage of its own inherits its nearest ancestor's, within the batch.

    Glassline's SDK stamps the stage on every span under a ``@stage``; other libraries name the
    stage only on the stage span, so its children learn it here (when they share a batch).
    """
    by_id = {(r.tenant, r.trace_id, r.span_id): r for r in batch}
    for record in batch:
        if record.stage is not None or record.kind == SpanKinds.WORKFLOW:
            continue
        parent = by_id.get((record.tenant, record.trace_id, record.parent_span_id or ""))
        for _ in range(_MAX_STAGE_DEPTH):  # bounded: a cycle in bad input must not hang us
            if parent is None or parent.kind == SpanKinds.WORKFLOW:
                break
            if parent.stage is not None:
                record.stage = parent.stage
                record.attributes[a.STAGE] = parent.stage
                break
            parent = by_id.get((parent.tenant, parent.trace_id, parent.parent_span_id or ""))
