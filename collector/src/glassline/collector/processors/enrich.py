"""Enrich: the cost of a model call, computed at ingest when the span carries none.

Prices come from :func:`glassline.pricing.cost_usd` (genai-prices' bundled
table, offline) or from per-model overrides in :class:`PricingConfig`. A cost sent by the client
is kept; an unknown model gets no cost and no guess. Cached tokens are priced once, at their
own rate (``gen_ai.usage.input_tokens`` includes them).

Pricing runs on every LLM span, and one table lookup costs ~0.1 ms, so the per-token rates are
looked up once per (provider, model) and kept. Models whose price is not linear (tiered by
prompt size) are detected at that point and priced per span through the table instead.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from typing import Final, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from glassline.collector.records import SpanRecord
from glassline.pricing import ModelPrice, cost_usd
from glassline.semconv import attributes as a

__all__ = ["EnrichProcessor", "ModelPriceConfig", "PricingConfig"]

_log = logging.getLogger(__name__)

_SMALL: Final = 1_000  # token counts at which rates are probed: a small call...
_LARGE: Final = 1_000_000  # ...and a large one; different rates mean tiered pricing
_REL_TOLERANCE: Final = 1e-9


class ModelPriceConfig(BaseModel):
    """USD per million tokens for one model; cache rates default to the input rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    cache_read: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cache_creation: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    def to_model_price(self) -> ModelPrice:
        return ModelPrice(self.input, self.output, self.cache_read, self.cache_creation)


class PricingConfig(BaseModel):
    """Cost enrichment: whether to price at all, and per-model price overrides.

    ``models`` keys are ``"<model>"`` or ``"<provider>/<model>"`` (provider as in
    ``gen_ai.provider.name``); the provider-qualified key wins.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    models: dict[str, ModelPriceConfig] = Field(default_factory=dict)
    cache_size: int = Field(default=4096, ge=1)  # (provider, model) rate entries kept

    @field_validator("models")
    @classmethod
    def _keys_not_blank(cls, models: dict[str, ModelPriceConfig]) -> dict[str, ModelPriceConfig]:
        blank = [key for key in models if not key.strip() or key.strip("/") != key]
        if blank:
            raise ValueError(f"model keys must be '<model>' or '<provider>/<model>', got {blank}")
        return models


class _Rates(NamedTuple):
    """USD per token of each bucket, for a model priced linearly."""

    input: float
    output: float
    cache_read: float
    cache_creation: float


_TIERED: Final = object()  # marker: price this model per span through the table
_Entry = _Rates | object | None  # None: the model has no known price


class EnrichProcessor:
    """Sets ``cost_usd`` / ``glassline.cost.usd`` with ``glassline.cost.source = "collector"``
    on spans that have a model and tokens but no cost.
    """

    name = "enrich"

    def __init__(self, config: PricingConfig | None = None) -> None:
        self.config = config or PricingConfig()
        self._overrides = {key: p.to_model_price() for key, p in self.config.models.items()}
        self._entries: OrderedDict[tuple[str | None, str], _Entry] = OrderedDict()
        self.priced = 0
        self.unpriced = 0

    @property
    def cached_models(self) -> int:
        """How many (provider, model) price entries are held (bounded by ``cache_size``)."""
        return len(self._entries)

    def process(self, batch: list[SpanRecord]) -> list[SpanRecord]:
        if not self.config.enabled:
            return batch
        for record in batch:
            if record.cost_usd is not None or not record.model:
                continue  # a client-sent cost is kept; no model, no price
            if not (record.input_tokens or record.output_tokens):
                continue
            cost = self._cost(record)
            if cost is None:
                self.unpriced += 1
                continue
            self.priced += 1
            record.cost_usd = cost
            record.attributes[a.COST_USD] = cost
            record.attributes[a.COST_SOURCE] = "collector"
        return batch

    def _cost(self, record: SpanRecord) -> float | None:
        model = record.model or ""
        entry = self._entry(record.provider, model)
        if entry is None:
            return None
        if isinstance(entry, _Rates):
            read, creation = record.cache_read_tokens, record.cache_creation_tokens
            uncached = max(record.input_tokens, read + creation) - read - creation
            cost: float = (
                uncached * entry.input
                + record.output_tokens * entry.output
                + read * entry.cache_read
                + creation * entry.cache_creation
            )
            return cost
        return self._table_cost(record.provider, model, record)

    def _entry(self, provider: str | None, model: str) -> _Entry:
        key = (provider, model)
        try:
            self._entries.move_to_end(key)
            return self._entries[key]
        except KeyError:
            pass
        entry = self._probe(provider, model)
        self._entries[key] = entry
        if len(self._entries) > self.config.cache_size:
            self._entries.popitem(last=False)  # bounded: model names come from clients
        return entry

    def _probe(self, provider: str | None, model: str) -> _Entry:
        """Per-token rates of each bucket, measured at a small and a large call."""
        small = self._bucket_rates(provider, model, _SMALL)
        if small is None:
            # Model and provider names come from the payload: never logged (they may hold PII).
            _log.debug("no price for a span's model; its cost is left unset")
            return None
        large = self._bucket_rates(provider, model, _LARGE)
        if large is None or not all(
            math.isclose(s, b, rel_tol=_REL_TOLERANCE) for s, b in zip(small, large, strict=True)
        ):
            return _TIERED
        return small

    def _bucket_rates(self, provider: str | None, model: str, n: int) -> _Rates | None:
        probes = (
            {"input_tokens": n},
            {"output_tokens": n},
            {"input_tokens": n, "cache_read_tokens": n},
            {"input_tokens": n, "cache_creation_tokens": n},
        )
        rates = []
        for counts in probes:
            cost = cost_usd(model, provider=provider, overrides=self._overrides, **counts)
            if cost is None:
                return None
            rates.append(cost / n)
        return _Rates(*rates)

    def _table_cost(self, provider: str | None, model: str, record: SpanRecord) -> float | None:
        return cost_usd(
            model,
            provider=provider,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_read_tokens=record.cache_read_tokens,
            cache_creation_tokens=record.cache_creation_tokens,
            overrides=self._overrides,
        )
