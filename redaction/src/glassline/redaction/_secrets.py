"""Presidio PatternRecognizers for credentials that leak into LLM traces.

Each recognizer comes with a ``gate``: literals one of which must occur in a text before the
recognizer runs at all, so text without e.g. ``sk-`` never pays for its regex.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import regex
from presidio_analyzer import Pattern, PatternRecognizer

__all__ = ["SecretSpec", "build_secret_recognizers"]

_TOKEN = r"[A-Za-z0-9_\-]"


@dataclass(frozen=True, slots=True)
class SecretSpec:
    entity: str
    gate: tuple[str, ...]  # none of these in the text means the recognizer cannot match
    patterns: tuple[tuple[str, str], ...]  # (name, regex) for Presidio's ``regex`` module


_SPECS: tuple[SecretSpec, ...] = (
    SecretSpec(
        "OPENAI_API_KEY",
        ("sk-",),
        # sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...; sk-ant- belongs to Anthropic.
        (("openai key", rf"(?<![\w-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?{_TOKEN}{{20,}}"),),
    ),
    SecretSpec(
        "ANTHROPIC_API_KEY",
        ("sk-ant-",),
        (("anthropic key", rf"(?<![\w-])sk-ant-(?:api|admin)?\d{{0,2}}-?{_TOKEN}{{20,}}"),),
    ),
    SecretSpec(
        "AWS_ACCESS_KEY",
        ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA"),
        (
            (
                "aws key id",
                r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z2-7]{16}\b",
            ),
        ),
    ),
    SecretSpec(
        "AWS_SECRET_KEY",
        ("ecret", "ECRET"),
        (
            (
                "aws secret key",
                r"(?<=(?i:secret_?access_?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
            ),
        ),
    ),
    SecretSpec(
        "GITHUB_TOKEN",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        (
            ("github token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
            ("github fine-grained pat", r"\bgithub_pat_[A-Za-z0-9_]{50,255}\b"),
        ),
    ),
    SecretSpec(
        "SLACK_TOKEN",
        ("xox", "xapp-", "hooks.slack.com"),
        (
            ("slack token", r"\bxox[abposre]-[A-Za-z0-9-]{10,250}"),
            ("slack app token", r"\bxapp-\d-[A-Za-z0-9-]{10,250}"),
            (
                "slack webhook",
                r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}",
            ),
        ),
    ),
    SecretSpec(
        "STRIPE_KEY",
        ("_live_", "_test_", "whsec_"),
        (
            ("stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}\b"),
            ("stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{24,}\b"),
        ),
    ),
    SecretSpec(
        "JWT",
        ("eyJ",),
        (("jwt", rf"\beyJ{_TOKEN}{{8,}}\.eyJ{_TOKEN}{{8,}}\.{_TOKEN}{{8,}}"),),
    ),
    SecretSpec(
        "BEARER_TOKEN",
        ("earer", "EARER"),
        # Only the credential: "Authorization: Bearer <BEARER_TOKEN>" stays readable.
        (("bearer token", r"(?<=\b(?i:bearer)\s{1,4})[A-Za-z0-9\-._~+/]{16,}=*"),),
    ),
    SecretSpec(
        "PRIVATE_KEY",
        ("-----BEGIN",),
        (
            (
                "private key block",
                r"-----BEGIN[A-Z0-9 ]{0,32} PRIVATE KEY(?: BLOCK)?-----"
                r"(?:.*?-----END[A-Z0-9 ]{0,32} PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)",
            ),
        ),
    ),
)


# Score 1.0: a secret pattern is as certain as a checksum, and when a card number sits
# inside a Slack token the merged span should be labelled as the token.


class _JwtRecognizer(PatternRecognizer):
    """Accepts a match only if its header decodes to a JSON object naming an ``alg``."""

    def validate_result(self, pattern_text: str) -> bool:
        header = pattern_text.split(".", 1)[0]
        try:
            decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
            return "alg" in json.loads(decoded)
        except (binascii.Error, ValueError, TypeError):
            return False


def build_secret_recognizers() -> list[tuple[PatternRecognizer, tuple[str, ...]]]:
    """One recognizer per secret entity, each paired with its gate."""
    built = []
    for spec in _SPECS:
        cls = _JwtRecognizer if spec.entity == "JWT" else PatternRecognizer
        recognizer = cls(
            supported_entity=spec.entity,
            name=f"Glassline{spec.entity.title().replace('_', '')}Recognizer",
            patterns=[Pattern(name, regex, 1.0) for name, regex in spec.patterns],
            # Case matters for key prefixes (AKIA, sk-): no IGNORECASE, except via (?i).
            global_regex_flags=regex.DOTALL | regex.MULTILINE,
        )
        built.append((recognizer, spec.gate))
    return built
