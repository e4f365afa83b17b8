"""Sampling configuration: head rate, tail switch, timings and the policy tree.

Policies are a tagged union on ``type`` (``{type: latency, threshold_ms: 5000}``), nested
through ``and`` / ``not`` / ``composite``. Every model forbids unknown keys, and
:func:`load_sampling_config` reports every error at once with its path, e.g.
``policies[1].threshold_ms: Input should be greater than 0 (got -5)``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from glassline.collector.errors import ConfigError
from glassline.collector.validation import MAX_DURATION_S, validation_problems

__all__ = [
    "AndPolicyConfig",
    "AttributePolicyConfig",
    "CachePolicyConfig",
    "CompositeEntry",
    "CompositePolicyConfig",
    "CostPolicyConfig",
    "ErrorPolicyConfig",
    "FallbackPolicyConfig",
    "LatencyPolicyConfig",
    "NotPolicyConfig",
    "PolicyConfig",
    "ProbabilisticPolicyConfig",
    "RateLimitPolicyConfig",
    "RetriesPolicyConfig",
    "SamplingConfig",
    "SamplingConfigError",
    "TokensPolicyConfig",
    "load_sampling_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Policy(_Strict):
    # The name a kept trace records and the counters are keyed by; defaults to the type.
    name: str | None = Field(default=None, min_length=1, max_length=128)

    @property
    def label(self) -> str:
        return self.name or str(getattr(self, "type", "policy"))


class ErrorPolicyConfig(_Policy):
    """Keep a trace when any of its spans has error status."""

    type: Literal["error"]


class LatencyPolicyConfig(_Policy):
    """Keep a trace slower than ``threshold_ms``: the root span, or any span matching the filters."""

    type: Literal["latency"]
    threshold_ms: float = Field(gt=0)
    scope: Literal["root", "any"] = "root"
    stage: str | None = None  # only spans of this stage (implies scope "any")
    model: str | None = None  # only spans of this model (implies scope "any")


class CostPolicyConfig(_Policy):
    """Keep a trace whose total cost (USD) reaches ``threshold_usd``."""

    type: Literal["cost"]
    threshold_usd: float = Field(gt=0)


class TokensPolicyConfig(_Policy):
    """Keep a trace whose token count (input, output or both) reaches ``threshold``."""

    type: Literal["tokens"]
    threshold: int = Field(gt=0)
    count: Literal["total", "input", "output"] = "total"


class RetriesPolicyConfig(_Policy):
    """Keep a trace where at least ``min_retries`` retries were made."""

    type: Literal["retries"]
    min_retries: int = Field(default=1, ge=1)


class FallbackPolicyConfig(_Policy):
    """Keep a trace where a router fell back from its first choice."""

    type: Literal["fallback"]


class CachePolicyConfig(_Policy):
    """Keep a trace with a cache miss (on ``layer``, or on any layer when unset)."""

    type: Literal["cache_miss"]
    layer: str | None = None


class AttributePolicyConfig(_Policy):
    """Keep a trace where a span's value for ``key`` equals one of ``values`` or matches ``regex``.

    ``key`` is ``tenant``, ``user``, ``model``, ``stage``, ``service``, ``name`` or any span
    attribute name (e.g. ``gen_ai.provider.name``).
    """

    type: Literal["attribute"]
    key: str = Field(min_length=1)
    values: list[str] | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> AttributePolicyConfig:
        if (self.values is None) == (self.regex is None):
            raise ValueError("set exactly one of 'values' or 'regex'")
        if self.regex is not None:
            import re

            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex {self.regex!r}: {exc}") from exc
        return self


class RateLimitPolicyConfig(_Policy):
    """Keep at most ``traces_per_second`` traces per tenant (by trace start second)."""

    type: Literal["rate_limit"]
    traces_per_second: float = Field(gt=0)


class ProbabilisticPolicyConfig(_Policy):
    """Keep ``rate`` of the traces it sees, consistently by trace id."""

    type: Literal["probabilistic"]
    rate: float = Field(ge=0, le=1)
    salt: str = "glassline"  # independent of head sampling's choice of the same trace ids


class AndPolicyConfig(_Policy):
    """Keep when every sub-policy keeps (evaluated in order, short-circuit)."""

    type: Literal["and"]
    policies: list[PolicyConfig] = Field(min_length=1)


class NotPolicyConfig(_Policy):
    """Keep when the sub-policy does not."""

    type: Literal["not"]
    policy: PolicyConfig


class CompositeEntry(_Strict):
    """One ordered sub-policy of a composite with its share of the composite's rate."""

    policy: PolicyConfig
    share: float | None = Field(default=None, gt=0, le=1)


class CompositePolicyConfig(_Policy):
    """Ordered sub-policies sharing ``max_traces_per_second`` per tenant.

    The first sub-policy that keeps a trace and still has budget keeps it. Entries without a
    ``share`` split what the explicit shares leave, equally.
    """

    type: Literal["composite"]
    max_traces_per_second: float = Field(gt=0)
    policies: list[CompositeEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares_fit(self) -> CompositePolicyConfig:
        total = sum(e.share for e in self.policies if e.share is not None)
        if total > 1.0 + 1e-9:
            raise ValueError(f"shares add up to {total:g}, more than 1")
        return self


PolicyConfig = Annotated[
    ErrorPolicyConfig
    | LatencyPolicyConfig
    | CostPolicyConfig
    | TokensPolicyConfig
    | RetriesPolicyConfig
    | FallbackPolicyConfig
    | CachePolicyConfig
    | AttributePolicyConfig
    | RateLimitPolicyConfig
    | ProbabilisticPolicyConfig
    | AndPolicyConfig
    | NotPolicyConfig
    | CompositePolicyConfig,
    Field(discriminator="type"),
]

for _model in (AndPolicyConfig, NotPolicyConfig, CompositeEntry, CompositePolicyConfig):
    _model.model_rebuild()


class SamplingConfig(_Strict):
    """The collector's ``sampling`` section."""

    head_rate: float = Field(default=1.0, ge=0, le=1)  # TraceIdRatioBased, like the SDK's
    tail_enabled: bool = False
    decision_wait_s: float = Field(
        default=10.0, gt=0, le=MAX_DURATION_S
    )  # quiet time before a trace is decided
    decision_memory_s: float = Field(
        default=3600.0, gt=0, le=MAX_DURATION_S
    )  # late spans follow the decision
    batch_traces: int = Field(default=500, ge=1, le=10_000)  # traces decided per transaction
    policies: list[PolicyConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_top_level_names(self) -> SamplingConfig:
        seen: dict[str, int] = {}
        for i, policy in enumerate(self.policies):
            if policy.label in seen:
                raise ValueError(
                    f"policies[{i}]: duplicate policy name {policy.label!r} "
                    f"(also policies[{seen[policy.label]}]); give each a 'name'"
                )
            seen[policy.label] = i
        return self

    @property
    def needs_job(self) -> bool:
        """Whether ``TailDecider.run_once`` must run on a schedule: it decides tail traces and
        also purges the decisions and span keys that head sampling writes."""
        return self.tail_enabled or self.head_rate < 1.0

    @property
    def memory_ns(self) -> int:
        return int(self.decision_memory_s * 1e9)

    @property
    def wait_ns(self) -> int:
        return int(self.decision_wait_s * 1e9)


class SamplingConfigError(ConfigError):
    """Every problem of a sampling config in ``problems``, one ``path: message (got value)`` each."""


def load_sampling_config(data: dict[str, Any] | None) -> SamplingConfig:
    """Validate a mapping (from YAML/JSON) into :class:`SamplingConfig`, or raise every error."""
    try:
        return SamplingConfig.model_validate(data or {})
    except ValidationError as exc:
        errors = validation_problems(exc, data or {}, root="sampling")
        raise SamplingConfigError(errors) from None
