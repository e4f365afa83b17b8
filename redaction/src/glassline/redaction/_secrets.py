"""Presidio PatternRecognizers for credentials that leak into LLM traces.

Each recognizer comes with a ``gate``: literals one of which must occur in a text before the
recognizer runs at all, so text without e.g. ``sk-`` never pays for its regex.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
from presidio_analyzer import Pattern, PatternRecognizer

__all__ = ["SecretSpec", "build_secret_recognizers"]

_TOKEN = r"[A-Za-z0-9_\-]"
# Substrings of the credential keywords in their usual spellings, each with what follows a
# keyword before its value (gates are case-sensitive): "token" alone is in every token-count
# attribute name, "token=" and "token:" are not.
_KEYWORD_STEMS = (
    "assword", "ASSWORD", "asswd", "pwd", "PWD", "ecret", "ECRET", "oken", "OKEN", "pi_key",
    "pi-key", "piKey", "pikey", "PI_KEY", "PIKEY", "ccess_key", "CCESS_KEY",
)  # fmt: skip
_KEYWORD_GATE = (
    *(stem + sep for stem in _KEYWORD_STEMS for sep in ("=", ":", '"', "'", " ")),
    "asic ",
    "ASIC ",
    # Schemes of URLs that carry a password in the wild: DSNs, brokers, caches ("ql://" for
    # postgresql, mysql, mssql). Not http(s): every provider URL would open the gate.
    "ql://",
    "postgres://",
    "psycopg://",
    "psycopg2://",
    "asyncpg://",
    "pymysql://",
    "mongodb://",
    "mongodb+srv://",
    "redis://",
    "rediss://",
    "amqp://",
    "amqps://",
    "clickhouse://",
    "snowflake://",
    "oracle://",
    "ftp://",
    "sftp://",
    "smtp://",
    "ldap://",
)


@dataclass(frozen=True, slots=True)
class SecretSpec:
    entity: str
    gate: tuple[str, ...]  # none of these in the text means the recognizer cannot match
    patterns: tuple[tuple[str, str], ...]  # (name, regex) for Presidio's ``regex`` module
    # 1.0: as certain as a checksum. Lower for the keyword rule, so that where it overlaps a
    # known key format ("api_key: sk-..."), the finding is labelled with the format's entity.
    score: float = 1.0


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
                # Any 16 of [A-Z0-9], not just base32: a mistyped key is still a key.
                r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[A-Z0-9]{16}\b",
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
        # The shape alone: a JSON header ("eyJ" is base64 of '{"'), then two more parts,
        # whatever they decode to.
        (("jwt", rf"\beyJ{_TOKEN}{{8,}}\.{_TOKEN}{{8,}}\.{_TOKEN}{{8,}}"),),
    ),
    SecretSpec(
        "BEARER_TOKEN",
        ("earer", "EARER"),
        # Only the credential: "Authorization: Bearer <BEARER_TOKEN>" stays readable.
        (("bearer token", r"(?<=\b(?i:bearer)\s{1,4})[A-Za-z0-9\-._~+/]{16,}=*"),),
    ),
    SecretSpec(
        "SECRET",
        _KEYWORD_GATE,
        (
            (
                # The value after a credential keyword: 8+ characters holding a letter and a
                # digit, or 16+ token characters ("max_tokens=1024" and "token: none" stay).
                "keyword secret",
                r"(?<=(?i:(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key)"
                r"(?:[_-]?[a-z]+)?)[\"']?\s{0,3}[:=]\s{0,3}[\"']?)"
                r"(?:(?=[^\s\"',;]*[A-Za-z])(?=[^\s\"',;]*\d)[^\s\"',;]{8,}"
                r"|[A-Za-z0-9_\-+/=.~]{16,})",
            ),
            ("basic credentials", r"(?<=\b(?i:basic)\s{1,4})[A-Za-z0-9+/]{12,}={0,2}"),
            (
                # The password of a database or broker URL ("postgresql://app:<SECRET>@db").
                # The literal first and \K, not a lookbehind: the recognizer reads the whole
                # text, and a lookbehind tried at every character cost ~55 ns a character.
                "url password",
                r"://[^\s:/@\"'<>]{0,128}:\K[^\s@/\"'<>]{1,256}(?=@)",
            ),
        ),
        score=0.9,
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


def build_secret_recognizers() -> list[tuple[PatternRecognizer, tuple[str, ...]]]:
    """One recognizer per secret entity, each paired with its gate."""
    built = []
    for spec in _SPECS:
        recognizer = PatternRecognizer(
            supported_entity=spec.entity,
            name=f"Glassline{spec.entity.title().replace('_', '')}Recognizer",
            patterns=[Pattern(name, regex, spec.score) for name, regex in spec.patterns],
            # Case matters for key prefixes (AKIA, sk-): no IGNORECASE, except via (?i).
            global_regex_flags=regex.DOTALL | regex.MULTILINE,
        )
        built.append((recognizer, spec.gate))
    return built
